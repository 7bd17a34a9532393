"""Validate one Backstage entity document as Backstage's catalog does, collecting problems.

Rules follow Backstage's catalog-model: ``EntityEnvelope``/``Entity`` schemas and the
``KubernetesValidatorFunctions`` (names, namespaces, labels, annotation keys, tags), plus the
required ``spec`` fields of each core kind's JSON Schema (``schema/kinds/*.schema.json``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.catalog._problems import FieldPath, Problem
from shipyard.catalog._yaml import LocatedDocument
from shipyard.catalog.backstage._model import (
    ANNOTATION_PREFIX,
    DEFAULT_NAMESPACE,
    Component,
    Entity,
    EntityRef,
    InvalidEntityRef,
    LocationEntity,
)

__all__ = ["KINDS", "parse_entity"]

CORE_API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
TEMPLATE_API_VERSIONS = ("scaffolder.backstage.io/v1beta3", "backstage.io/v1beta2")

_NAME = re.compile(r"^[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DNS_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TAG = re.compile(r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$")
DEFINITION_AT_LOCATION = "backstage.io/definition-at-location"
_ENVELOPE_KEYS = {"apiVersion", "kind", "metadata", "spec", "relations", "status"}


@dataclass(frozen=True)
class KindRules:
    """Required and optional ``spec`` fields of one kind (from its Backstage schema)."""

    strings: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    optional_strings: tuple[str, ...] = ()
    optional_lists: tuple[str, ...] = ()
    api_versions: tuple[str, ...] = CORE_API_VERSIONS


_RELATIONS = ("dependsOn", "dependencyOf")
KINDS: Mapping[str, KindRules] = {
    "Component": KindRules(
        strings=("type", "lifecycle", "owner"),
        optional_strings=("system", "subcomponentOf"),
        optional_lists=("providesApis", "consumesApis", *_RELATIONS),
    ),
    "API": KindRules(strings=("type", "lifecycle", "owner"), optional_strings=("system",)),
    "Resource": KindRules(
        strings=("type", "owner"), optional_strings=("system",), optional_lists=_RELATIONS
    ),
    "System": KindRules(strings=("owner",), optional_strings=("domain",)),
    "Domain": KindRules(strings=("owner",), optional_strings=("subdomainOf",)),
    "Group": KindRules(
        strings=("type",),
        lists=("children",),
        optional_strings=("parent",),
        optional_lists=("members",),
    ),
    "User": KindRules(lists=("memberOf",)),
    "Location": KindRules(optional_strings=("type", "target"), optional_lists=("targets",)),
    "Template": KindRules(api_versions=TEMPLATE_API_VERSIONS),
}


class _Checker:
    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.annotations: Mapping[str, Any] = {}

    def add(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, hint))

    def add_key(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, hint, at_key=True))

    def string(self, parent: Mapping[str, Any], path: FieldPath, *, required: bool) -> str | None:
        key = str(path[-1])
        if key not in parent or (parent[key] is None and not required):
            if required:
                self.add(path, f"{path[-1]} is required", f"add `{path[-1]}: <value>`")
            return None
        value = parent[key]
        if not isinstance(value, str) or not value:
            what = "empty" if value in ("", None) else f"a {_type_name(value)}"
            self.add(
                path,
                f"{key} must be a non-empty string, not {what}",
                "write a text value (quote it if it looks like a number or boolean)",
            )
            return None
        return value

    def strings(self, parent: Mapping[str, Any], path: FieldPath, *, required: bool) -> list[str]:
        key = str(path[-1])
        if key not in parent:
            if required:
                self.add(path, f"{key} is required", f"add `{key}: []` (a list, may be empty)")
            return []
        value = parent[key]
        if not isinstance(value, list):
            self.add(
                path,
                f"{key} must be a list of strings, not {_type_name(value)}",
                f"write `{key}: [a, b]` or one `- item` per line",
            )
            return []
        items: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item:
                items.append(item)
            else:
                self.add((*path, index), f"items of {key} must be non-empty strings")
        return items


def _type_name(value: Any) -> str:
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


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _check_name(check: _Checker, value: str, path: FieldPath) -> None:
    if len(value) > 63 or not _NAME.match(value):
        check.add(
            path,
            f"{value!r} is not a valid entity name: 1-63 characters of [a-zA-Z0-9] "
            "separated by '-', '_' or '.'",
            "e.g. orders-api",
        )


def _check_key(check: _Checker, key: str, path: FieldPath, what: str) -> None:
    prefix, slash, name = key.rpartition("/")
    ok = len(name) <= 63 and bool(_NAME.match(name))
    if slash:
        ok = ok and 0 < len(prefix) <= 253 and bool(_DNS_PREFIX.match(prefix))
    if not ok:
        check.add_key(
            path,
            f"{key!r} is not a valid {what} key: an optional DNS prefix "
            "(<= 253 characters) and '/', then a name of 1-63 characters of "
            "[a-zA-Z0-9] separated by '-', '_' or '.'",
            "e.g. example.com/my-key",
        )


def _string_map(
    check: _Checker, metadata: Mapping[str, Any], key: str, validate_value: bool
) -> dict[str, str]:
    path: FieldPath = ("metadata", key)
    value = metadata.get(key)
    if key not in metadata:
        return {}
    if not isinstance(value, dict):
        check.add(
            path,
            f"{key} must be a mapping of keys to strings, not {_type_name(value)}",
            f"write one `key: value` per line under {key}:",
        )
        return {}
    result: dict[str, str] = {}
    for item_key, item in value.items():
        item_path = (*path, item_key)
        _check_key(check, item_key, item_path, key.rstrip("s"))
        if not isinstance(item, str):
            check.add(
                item_path,
                f"{key} values must be strings, not {_type_name(item)}",
                f"quote the value: '{_render(item)}'",
            )
            continue
        if validate_value and item and (len(item) > 63 or not _NAME.match(item)):
            check.add(
                item_path,
                f"label value {item!r} must be 1-63 characters of "
                "[a-zA-Z0-9] separated by '-', '_' or '.'",
            )
        result[item_key] = item
    return result


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_metadata(check: _Checker, metadata: Mapping[str, Any]) -> dict[str, Any]:
    name = check.string(metadata, ("metadata", "name"), required=True)
    if name is not None:
        _check_name(check, name, ("metadata", "name"))
    namespace = check.string(metadata, ("metadata", "namespace"), required=False)
    if namespace is not None and (len(namespace) > 63 or not _NAMESPACE.match(namespace)):
        check.add(
            ("metadata", "namespace"),
            f"{namespace!r} is not a valid namespace: 1-63 lowercase letters, digits and '-'",
            "e.g. default",
        )
    title = check.string(metadata, ("metadata", "title"), required=False)
    description = metadata.get("description")
    if "description" in metadata and not isinstance(description, str):
        check.add(("metadata", "description"), "description must be a string")
        description = None
    tags: list[str] = []
    for index, tag in enumerate(check.strings(metadata, ("metadata", "tags"), required=False)):
        if len(tag) > 63 or not _TAG.match(tag):
            check.add(
                ("metadata", "tags", index),
                f"tag {tag!r} must be 1-63 characters of [a-z0-9:+#] separated by '-'",
                "e.g. go-1-15",
            )
        else:
            tags.append(tag)
    _check_links(check, metadata)
    return {
        "name": name,
        "namespace": namespace or DEFAULT_NAMESPACE,
        "title": title,
        "description": description,
        "labels": _string_map(check, metadata, "labels", validate_value=True),
        "annotations": _string_map(check, metadata, "annotations", validate_value=False),
        "tags": tuple(tags),
    }


def _check_links(check: _Checker, metadata: Mapping[str, Any]) -> None:
    if "links" not in metadata:
        return
    links = metadata["links"]
    if not isinstance(links, list):
        check.add(
            ("metadata", "links"),
            f"links must be a list, not {_type_name(links)}",
            "write `- url: https://...` items, or remove links:",
        )
        return
    for index, link in enumerate(links):
        path: FieldPath = ("metadata", "links", index)
        if not isinstance(link, dict):
            check.add(path, "a link must be a mapping with a url", "write `- url: https://...`")
            continue
        check.string(link, (*path, "url"), required=True)
        for key in ("title", "icon", "type"):
            check.string(link, (*path, key), required=False)


def _check_envelope(check: _Checker, data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    api_version = check.string(data, ("apiVersion",), required=True)
    kind = check.string(data, ("kind",), required=True)
    for key in data:
        if key not in _ENVELOPE_KEYS:
            hint = _suggest(key, _ENVELOPE_KEYS) or "move it under metadata: or spec:"
            check.add_key((key,), f"unknown top-level field {key!r}", hint)
    if kind is not None and kind not in KINDS:
        check.add(
            ("kind",),
            f"unknown kind {kind!r}",
            _suggest(kind, KINDS) or f"use one of {', '.join(KINDS)}",
        )
        kind = None
    if kind is not None and api_version is not None:
        allowed = KINDS[kind].api_versions
        if api_version not in allowed:
            check.add(
                ("apiVersion",),
                f"apiVersion {api_version!r} is not valid for kind {kind}",
                f"use {' or '.join(allowed)}",
            )
    return api_version, kind


def _check_spec(check: _Checker, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    rules = KINDS[kind]
    found: dict[str, Any] = {}
    for key in rules.strings + rules.optional_strings:
        found[key] = check.string(spec, ("spec", key), required=key in rules.strings)
    for key in rules.lists + rules.optional_lists:
        found[key] = check.strings(spec, ("spec", key), required=key in rules.lists)
    if kind == "API":
        _check_definition(check, spec)
    return found


def _check_definition(check: _Checker, spec: Mapping[str, Any]) -> None:
    if DEFINITION_AT_LOCATION in check.annotations:
        return  # a catalog processor fills spec.definition from that URL
    definition = spec.get("definition")
    substitution = (
        isinstance(definition, dict)
        and len(definition) == 1
        and next(iter(definition)) in ("$text", "$json", "$yaml")
    )
    if not (isinstance(definition, str) and definition) and not substitution:
        check.add(
            ("spec", "definition"),
            "an API needs a definition (a string, or $text/$json/$yaml: <url>)",
            "add `definition: {$text: ./openapi.yaml}`",
        )


def _ref(check: _Checker, value: str | None, path: FieldPath, kind: str) -> EntityRef | None:
    if value is None:
        return None
    try:
        return EntityRef.parse(value, default_kind=kind)
    except InvalidEntityRef as exc:
        check.add(path, str(exc), "write [kind:][namespace/]name, e.g. group:default/team-a")
        return None


def _component(check: _Checker, base: dict[str, Any], spec: dict[str, Any]) -> Component:
    depends: list[EntityRef] = []
    for index, item in enumerate(spec.get("dependsOn") or []):
        ref = _ref(check, item, ("spec", "dependsOn", index), "component")
        if ref is not None:
            depends.append(ref)
    _check_shipyard_keys(check, base["annotations"])
    return Component(
        **base,
        type=spec.get("type") or "",
        lifecycle=spec.get("lifecycle") or "",
        owner=_ref(check, spec.get("owner"), ("spec", "owner"), "group"),
        system=_ref(check, spec.get("system"), ("spec", "system"), "system"),
        depends_on=tuple(depends),
    )


_SETTING = re.compile(r"^(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)?[a-z0-9]+(?:-[a-z0-9]+)*$")


def _check_shipyard_keys(check: _Checker, annotations: Mapping[str, str]) -> None:
    for key in annotations:
        if key.startswith(ANNOTATION_PREFIX) and not _SETTING.match(
            key.removeprefix(ANNOTATION_PREFIX)
        ):
            check.add_key(
                ("metadata", "annotations", key),
                f"{key!r} is not a Shipyard setting annotation",
                "use shipyard.dev/<setting> or "
                "shipyard.dev/<environment>.<setting>, names in kebab-case",
            )


def _location(check: _Checker, base: dict[str, Any], spec: Mapping[str, Any]) -> LocationEntity:
    targets: list[tuple[str, FieldPath]] = []
    if isinstance(spec.get("target"), str):
        targets.append((spec["target"], ("spec", "target")))
    if isinstance(spec.get("targets"), list):
        targets.extend(
            (item, ("spec", "targets", index))
            for index, item in enumerate(spec["targets"])
            if isinstance(item, str)
        )
    location_type = spec.get("type") if isinstance(spec.get("type"), str) else None
    return LocationEntity(**base, targets=tuple(targets), location_type=location_type)


_BUILDERS: dict[str, Callable[[_Checker, dict[str, Any], dict[str, Any]], Entity]] = {
    "Component": _component,
    "Location": _location,
}


def parse_entity(doc: LocatedDocument) -> tuple[Entity | None, list[Problem]]:
    """Validate ``doc`` as one entity; return it (None if unusable) and every problem."""
    check = _Checker(doc)
    data = doc.data
    if not isinstance(data, dict):
        check.add(
            (),
            f"an entity must be a mapping, not {_type_name(data)}",
            "start the document with `apiVersion: backstage.io/v1alpha1`",
        )
        return None, check.problems
    api_version, kind = _check_envelope(check, data)
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        what = "missing" if "metadata" not in data else f"a {_type_name(metadata)}"
        check.add(
            ("metadata",),
            f"metadata must be a mapping with a name, not {what}",
            "add `metadata:` with `name: <entity-name>`",
        )
        metadata = {}
    base = _check_metadata(check, metadata)
    check.annotations = base["annotations"]
    spec = data.get("spec")
    found: dict[str, Any] = {}
    if kind is not None and not isinstance(spec, dict):
        rules = KINDS[kind]
        needed = rules.strings + rules.lists
        if needed or spec is not None:
            what = "missing" if "spec" not in data else f"a {_type_name(spec)}"
            check.add(
                ("spec",),
                f"a {kind} needs a spec mapping, not {what}",
                f"add `spec:` with {', '.join(needed) or 'its fields'}",
            )
        spec = {}
    elif kind is not None and isinstance(spec, dict):
        found = _check_spec(check, kind, spec)
    spec = spec if isinstance(spec, dict) else {}
    if check.problems or kind is None or api_version is None or base["name"] is None:
        return None, check.problems
    base.update(api_version=api_version, kind=kind, document=doc, spec=spec)
    builder = _BUILDERS.get(kind)
    entity = builder(check, base, {**spec, **found}) if builder else Entity(**base)
    return (None if check.problems else entity), check.problems
