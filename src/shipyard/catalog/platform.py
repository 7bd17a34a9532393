"""``platform.yaml``: the platform team's environments and templates, validated and located."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from shipyard.catalog._jsonschema import violations
from shipyard.catalog._problems import CatalogError, FieldPath, Problem
from shipyard.catalog._yaml import LocatedDocument, LocatedFile, load_file, load_text, one_document
from shipyard.catalog.settings import FORMAT_CHECKER, SETTING_NAME, WELL_KNOWN_SCHEMA

__all__ = [
    "API_VERSION",
    "TARGETS",
    "Environment",
    "Platform",
    "Target",
    "Template",
    "load_platform",
    "parse_platform",
    "parse_platform_text",
]

API_VERSION = "shipyard.dev/v1alpha1"
Target = Literal["local", "gcp"]
TARGETS: tuple[Target, ...] = ("local", "gcp")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TOP_KEYS = ("apiVersion", "kind", "metadata", "environments", "templates")
_ENV_KEYS = ("name", "description", "target", "autoDeploy", "settings", "schema")
_TEMPLATE_KEYS = ("name", "description", "default", "settings", "schema")


@dataclass(frozen=True)
class Environment:
    """A stage; ``path`` is where it sits in the platform file (for positions)."""

    name: str
    target: Target
    auto_deploy: bool
    settings: Mapping[str, Any]
    schema: Mapping[str, Any]
    path: FieldPath
    description: str | None = None


@dataclass(frozen=True)
class Template:
    """A contract: default settings and the JSON Schema resolved settings must satisfy."""

    name: str
    default: bool
    settings: Mapping[str, Any]
    schema: Mapping[str, Any]
    path: FieldPath
    description: str | None = None


@dataclass(frozen=True)
class Platform:
    environments: tuple[Environment, ...]
    templates: tuple[Template, ...]
    document: LocatedDocument = field(repr=False, compare=False)

    @property
    def file(self) -> str:
        return self.document.file

    def environment(self, name: str) -> Environment | None:
        return next((env for env in self.environments if env.name == name), None)

    def template(self, name: str | None = None) -> Template | None:
        """The named template, or the default one (the only one counts as default)."""
        if name is not None:
            return next((t for t in self.templates if t.name == name), None)
        marked = [t for t in self.templates if t.default]
        if marked:
            return marked[0]
        return self.templates[0] if len(self.templates) == 1 else None

    def problem(self, path: FieldPath, message: str, hint: str | None = None) -> Problem:
        return self.document.problem(path, message, hint)


def _type(value: Any) -> str:
    names = {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


class _Reader:
    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(
        self, path: FieldPath, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> None:
        self.problems.append(self.doc.problem(path, message, hint, at_key=at_key))

    def keys(self, data: Mapping[str, Any], path: FieldPath, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(allowed)}"
                self.add((*path, key), f"unknown field {key!r}", hint, at_key=True)

    def name(self, data: Mapping[str, Any], path: FieldPath) -> str | None:
        value = data.get("name")
        if not isinstance(value, str) or not _NAME.match(value):
            self.add(
                (*path, "name"),
                "name is required" if value is None else f"{value!r} is not a valid name",
                "lowercase letters, digits and '-', at most 63 characters, e.g. prod",
            )
            return None
        return value

    def flag(self, data: Mapping[str, Any], path: FieldPath, key: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.add((*path, key), f"{key} must be true or false, not {_type(value)}")
            return False
        return value

    def settings(self, data: Mapping[str, Any], path: FieldPath) -> dict[str, Any]:
        value = data.get("settings", {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(
                (*path, "settings"),
                f"settings must be a mapping, not {_type(value)}",
                "write one `setting-name: value` per line",
            )
            return {}
        for key in value:
            if not SETTING_NAME.match(key):
                self.add(
                    (*path, "settings", key),
                    f"{key!r} is not a setting name",
                    "setting names are kebab-case, e.g. max-instances",
                    at_key=True,
                )
        for violation in violations(_well_known(), value):
            self.add(
                (*path, "settings", *violation.path),
                f"{violation.message} (a well-known setting)",
                "see docs/platform.md for its type",
            )
        return value

    def schema(self, data: Mapping[str, Any], path: FieldPath) -> dict[str, Any]:
        value = data.get("schema", {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(
                (*path, "schema"),
                f"schema must be a JSON Schema mapping, not {_type(value)}",
                "e.g. {properties: {max-instances: {maximum: 5}}}",
            )
            return {}
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            self.add(
                (*path, "schema", *exc.absolute_path),
                f"not a valid JSON Schema: {exc.message}",
                "see https://json-schema.org/draft/2020-12",
            )
            return {}
        return value


def _well_known() -> Draft202012Validator:
    return Draft202012Validator(
        {"properties": WELL_KNOWN_SCHEMA["properties"]},
        format_checker=FORMAT_CHECKER,
    )


def _items(
    reader: _Reader, data: Mapping[str, Any], key: str
) -> list[tuple[FieldPath, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        what = "missing" if value is None else f"a {_type(value)}" if value != [] else "empty"
        reader.add(
            (key,),
            f"{key} must be a non-empty list, not {what}",
            f"add `{key}:` with `- name: ...` items",
        )
        return []
    items: list[tuple[FieldPath, dict[str, Any]]] = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            items.append(((key, index), item))
        else:
            reader.add((key, index), f"each of {key} must be a mapping, not {_type(item)}")
    return items


def _environment(reader: _Reader, path: FieldPath, data: dict[str, Any]) -> Environment | None:
    reader.keys(data, path, _ENV_KEYS)
    name = reader.name(data, path)
    target = data.get("target")
    if target not in TARGETS:
        reader.add(
            (*path, "target"),
            "target is required" if target is None else f"unknown target {target!r}",
            f"use one of: {', '.join(TARGETS)}",
        )
    auto_deploy = reader.flag(data, path, "autoDeploy")
    settings, schema = reader.settings(data, path), reader.schema(data, path)
    if name is None or target not in TARGETS:
        return None
    description = data.get("description") if isinstance(data.get("description"), str) else None
    return Environment(name, cast(Target, target), auto_deploy, settings, schema, path, description)


def _template(reader: _Reader, path: FieldPath, data: dict[str, Any]) -> Template | None:
    reader.keys(data, path, _TEMPLATE_KEYS)
    name = reader.name(data, path)
    default = reader.flag(data, path, "default")
    settings, schema = reader.settings(data, path), reader.schema(data, path)
    if name is None:
        return None
    description = data.get("description") if isinstance(data.get("description"), str) else None
    return Template(name, default, settings, schema, path, description)


def _duplicates(reader: _Reader, items: list[tuple[FieldPath, dict[str, Any]]], what: str) -> None:
    seen: set[str] = set()
    for path, data in items:
        name = data.get("name")
        if isinstance(name, str) and name in seen:
            reader.add(
                (*path, "name"), f"duplicate {what} name {name!r}", f"give each {what} its own name"
            )
        if isinstance(name, str):
            seen.add(name)


def _build(doc: LocatedDocument) -> tuple[Platform | None, list[Problem]]:
    reader = _Reader(doc)
    data = doc.data
    if not isinstance(data, dict):
        reader.add(
            (),
            f"a platform file must be a mapping, not {_type(data)}",
            f"start it with `apiVersion: {API_VERSION}` and `kind: Platform`",
        )
        return None, reader.problems
    reader.keys(data, (), _TOP_KEYS)
    if data.get("apiVersion") != API_VERSION:
        reader.add(
            ("apiVersion",),
            f"apiVersion must be {API_VERSION}",
            f"write `apiVersion: {API_VERSION}`",
        )
    if data.get("kind") != "Platform":
        reader.add(("kind",), "kind must be Platform", "write `kind: Platform`")
    env_items = _items(reader, data, "environments")
    template_items = _items(reader, data, "templates")
    envs = [env for path, item in env_items if (env := _environment(reader, path, item))]
    templates = [t for path, item in template_items if (t := _template(reader, path, item))]
    _duplicates(reader, env_items, "environment")
    _duplicates(reader, template_items, "template")
    defaults = [t for t in templates if t.default]
    for extra in defaults[1:]:
        reader.add(
            (*extra.path, "default"),
            f"template {extra.name!r} is a second default "
            f"(template {defaults[0].name!r} is already the default)",
            "mark exactly one template `default: true`",
        )
    if reader.problems:
        return None, reader.problems
    return Platform(tuple(envs), tuple(templates), doc), []


def _from_file(located: LocatedFile) -> tuple[Platform | None, list[Problem]]:
    return one_document(
        located,
        _build,
        empty=("the platform file is empty", "see examples/platform.yaml"),
        extra=("a platform file holds one document", "remove the extra `---` documents"),
    )


def parse_platform_text(text: str | bytes, file: str) -> tuple[Platform | None, list[Problem]]:
    return _from_file(load_text(text, file))


def parse_platform(path: Path, display: str | None = None) -> tuple[Platform | None, list[Problem]]:
    """The platform, or None and every problem in the file."""
    return _from_file(load_file(path, display))


def load_platform(path: Path, display: str | None = None) -> Platform:
    platform, problems = parse_platform(path, display)
    if platform is None:
        raise CatalogError(problems)
    return platform
