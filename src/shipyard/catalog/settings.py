"""Well-known settings: their names, built-in defaults and the schema Shipyard itself enforces.

:func:`builtin_format_problem` holds one annotation value to its setting's own format; it
applies with or without a platform file (``shipyard validate`` without ``--platform``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from shipyard.catalog._jsonschema import describe

__all__ = [
    "BUILTIN_DEFAULTS",
    "FORMAT_CHECKER",
    "SETTING_NAME",
    "WELL_KNOWN_SCHEMA",
    "WELL_KNOWN_SETTINGS",
    "builtin_format_problem",
    "coerce_setting",
]

SETTING_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_PROPERTIES: dict[str, dict[str, Any]] = {
    "tag-pattern": {"type": "string", "minLength": 1, "format": "regex"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "source": {"type": "string", "minLength": 1},
    "score-file": {"type": "string", "minLength": 1},
    "gcp-project": {"type": "string", "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$"},
    "region": {"type": "string", "pattern": "^[a-z]+-[a-z]+[0-9]+$"},
    "cpu": {"type": ["string", "number"], "pattern": r"^[0-9]+(\.[0-9]+)?m?$"},
    "memory": {"type": "string", "pattern": "^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$"},
    "min-instances": {"type": "integer", "minimum": 0},
    "max-instances": {"type": "integer", "minimum": 1},
    "public": {"type": "boolean"},
    # the gcp target's settings (docs/gcp-target.md); their defaults live in the target
    "keep-versions": {"type": "integer", "minimum": 1},
    "cloudbuild-file": {"type": "string", "minLength": 1},
    "gcp-connection": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_-]*$"},
    "ingress": {"enum": ["all", "internal", "internal-and-cloud-load-balancing"]},
    "deletion-protection": {"type": "boolean"},
    "gcp-build-project": {"type": "string", "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$"},
    "gcp-build-region": {"type": "string", "pattern": "^[a-z]+-[a-z]+[0-9]+$"},
    "build": {"enum": ["once", "per-environment"]},
    "gcp-build-deploys": {"type": "boolean"},
}

WELL_KNOWN_SETTINGS: tuple[str, ...] = tuple(_PROPERTIES)

WELL_KNOWN_SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": _PROPERTIES,
    "propertyNames": {"pattern": SETTING_NAME.pattern},
}

BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "port": 8080,
    "tag-pattern": r"^v\d+\.\d+\.\d+$",
    "cpu": "1",
    "memory": "512Mi",
    "min-instances": 0,
    "max-instances": 1,
    "public": False,
}


def _types(rule: Mapping[str, Any]) -> set[str]:
    declared = rule.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    for item in rule.get("enum") or ():
        types.add({bool: "boolean", int: "integer", float: "number"}.get(type(item), "string"))
    return types


def coerce_setting(text: str, types: set[str]) -> Any:
    """An annotation's text as one of ``types`` (JSON Schema names); unchanged if none fits."""
    stripped = text.strip()
    if not types or "string" in types:
        return text
    if types & {"integer", "number"} and re.fullmatch(r"[+-]?[0-9]+", stripped):
        return int(stripped)
    if "number" in types and re.fullmatch(
        r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", stripped
    ):
        return float(stripped)
    if "boolean" in types and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if types & {"array", "object"}:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


FORMAT_CHECKER = FormatChecker(formats=Draft202012Validator.FORMAT_CHECKER.checkers)
"""Draft 2020-12's format checks, with ``regex`` that reports any pattern Python cannot
compile (jsonschema's own lets ``OverflowError`` through, e.g. for ``a{99999999999}``)."""


@FORMAT_CHECKER.checks("regex", raises=(re.error, OverflowError, RecursionError, ValueError))
def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        re.compile(instance)
    return True


_VALIDATORS: dict[str, Draft202012Validator] = {
    name: Draft202012Validator(rule, format_checker=FORMAT_CHECKER)
    for name, rule in _PROPERTIES.items()
}


def builtin_format_problem(setting: str, text: str) -> str | None:
    """Why ``text`` breaks the built-in format of well-known ``setting`` (None: it does not,
    or the setting is not well-known and only a platform file can say)."""
    validator = _VALIDATORS.get(setting)
    if validator is None:
        return None
    value = coerce_setting(text, _types(_PROPERTIES[setting]))
    errors = sorted(validator.iter_errors(value), key=lambda error: str(error.validator))
    return describe(errors[0]) if errors else None
