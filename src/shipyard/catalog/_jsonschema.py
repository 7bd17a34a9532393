"""JSON Schema errors (from ``jsonschema``) told in plain words, with the field they are about."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from shipyard.catalog._problems import FieldPath

__all__ = ["SchemaViolation", "describe", "explain", "render", "violations"]


def render(value: Any) -> str:
    """A value as the user would write it in JSON/YAML."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _list(values: Any) -> str:
    if isinstance(values, str):
        return values
    if isinstance(values, list | tuple):
        return ", ".join(str(v) if isinstance(v, str) else render(v) for v in values)
    return render(values)


@dataclass(frozen=True)
class SchemaViolation:
    """One failed keyword: ``path`` is the instance field it is about (a key for extras)."""

    path: FieldPath
    keyword: str
    message: str
    schema_path: tuple[str | int, ...]
    rule: Any
    at_key: bool = False
    statement: str = ""
    detail: str | None = None


def explain(error: ValidationError) -> tuple[str, str | None]:
    """What is wrong, split as (statement, detail): ``('"x" is not allowed', 'allowed: a, b')``."""
    value, rule, keyword = error.instance, error.validator_value, str(error.validator)
    shown = render(value)
    messages: dict[str, Any] = {
        "enum": lambda: (f"{shown} is not allowed", f"allowed: {_list(rule)}"),
        "const": lambda: (f"{shown} is not allowed", f"must be {render(rule)}"),
        "type": lambda: (f"{shown} is not of type {_list(rule)}", None),
        "maximum": lambda: (f"{shown} is above the maximum {render(rule)}", None),
        "minimum": lambda: (f"{shown} is below the minimum {render(rule)}", None),
        "exclusiveMaximum": lambda: (f"{shown} must be less than {render(rule)}", None),
        "exclusiveMinimum": lambda: (f"{shown} must be greater than {render(rule)}", None),
        "pattern": lambda: (f"{shown} does not match the pattern {rule}", None),
        "minLength": lambda: (f"{shown} is shorter than {rule} characters", None),
        "maxLength": lambda: (f"{shown} is longer than {rule} characters", None),
        "multipleOf": lambda: (f"{shown} is not a multiple of {render(rule)}", None),
        "minItems": lambda: (f"{shown} needs at least {rule} items", None),
        "maxItems": lambda: (f"{shown} has more than {rule} items", None),
        "uniqueItems": lambda: (f"{shown} has duplicate items", None),
        "format": lambda: (f"{shown} is not a valid {rule}", None),
        "not": lambda: (f"{shown} is not allowed", None),
    }
    make = messages.get(keyword)
    result: tuple[str, str | None] = make() if make else (error.message, None)
    return result


def describe(error: ValidationError) -> str:
    """What is wrong, in one phrase, without the field name."""
    statement, detail = explain(error)
    return f"{statement} ({detail})" if detail else statement


def _extra_keys(error: ValidationError) -> list[str]:
    instance, schema = error.instance, error.schema
    if not isinstance(instance, Mapping) or not isinstance(schema, Mapping):
        return []
    known = set(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in known and not _matches(patterns, key)]


def _matches(patterns: list[str], key: str) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, key):
                return True
        except re.error:
            continue
    return False


def _expand(error: ValidationError) -> Iterator[SchemaViolation]:
    path: FieldPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema_path = tuple(error.absolute_schema_path)
    if keyword == "required":
        present = error.instance if isinstance(error.instance, Mapping) else {}
        for name in error.validator_value or ():  # type: ignore[union-attr]
            if name not in present:
                yield SchemaViolation(
                    (*path, name),
                    keyword,
                    f"{name} is required",
                    schema_path,
                    name,
                    statement="is required",
                )
        return
    if keyword == "additionalProperties":
        for key in _extra_keys(error) or [""]:
            yield SchemaViolation(
                (*path, key) if key else path,
                keyword,
                f"unknown field {key!r}",
                schema_path,
                error.validator_value,
                at_key=True,
            )
        return
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        yield SchemaViolation(
            (*path, error.instance),
            keyword,
            f"the name {describe(error)}",
            schema_path,
            error.validator_value,
            at_key=True,
        )
        return
    if keyword in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda sub: len(sub.absolute_path))
        if len(deepest.absolute_path) > len(error.absolute_path):
            yield from _expand(deepest)
            return
    statement, detail = explain(error)
    yield SchemaViolation(
        path,
        keyword,
        describe(error),
        schema_path,
        error.validator_value,
        statement=statement,
        detail=detail,
    )


def violations(validator: Validator, instance: Any) -> list[SchemaViolation]:
    """Every violation of ``instance``; an unresolvable ``$ref`` becomes one violation."""
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    except Unresolvable as exc:
        return [
            SchemaViolation(
                (), "$ref", f"the schema has a $ref that cannot be resolved: {exc}", (), None
            )
        ]
    except re.error as exc:
        return [
            SchemaViolation((), "pattern", f"the schema has an invalid pattern: {exc}", (), None)
        ]
    return [violation for error in errors for violation in _expand(error)]
