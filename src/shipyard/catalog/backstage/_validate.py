"""Validate one Backstage entity document as Backstage's catalog does, collecting problems.

Rules follow Backstage's ``@backstage/catalog-model`` as a default catalog applies it: the
``Entity``/``EntityMeta`` schemas, ``NoForeignRootFieldsEntityPolicy`` (only apiVersion, kind,
metadata and spec at the top), ``FieldFormatEntityPolicy`` with ``makeValidator()``'s
defaults (``KubernetesValidatorFunctions``: names, namespaces, label and annotation keys,
label values; tags; link URLs), and each built-in kind's JSON Schema
(``schema/kinds/*.schema.json``: ``spec`` required, its required and typed fields). The
differential test (tests/conformance, docs/conformance.md) holds Shipyard to that package.
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

# KubernetesValidatorFunctions: an object name (entity names, the name part of label and
# annotation keys, label values) and a DNS label (namespaces, the parts of a key's prefix).
_OBJECT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
_TAG = re.compile(r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$")
_KIND = re.compile(r"^[a-zA-Z][a-z0-9A-Z]*$")
_API_VERSION_NAME = re.compile(r"^[a-z0-9A-Z]+$")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SPECIAL_SCHEMES = ("http", "https", "ws", "wss", "ftp")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_FORBIDDEN_HOST = frozenset(" #%/:<>?@[\\]^|\x7f" + _C0_AND_SPACE)
# NoForeignRootFieldsEntityPolicy: relations and status are the catalog's to write.
_ENVELOPE_KEYS = ("apiVersion", "kind", "metadata", "spec")
# PlaceholderProcessor resolvers whose result is text ($json and $yaml give structures).
_TEXT_PLACEHOLDERS = ("$text",)


@dataclass(frozen=True)
class KindRules:
    """Required and optional ``spec`` fields of one kind (from its Backstage schema)."""

    strings: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    optional_strings: tuple[str, ...] = ()
    optional_lists: tuple[str, ...] = ()
    profile: bool = False
    api_versions: tuple[str, ...] = CORE_API_VERSIONS


KINDS: Mapping[str, KindRules] = {
    "Component": KindRules(
        strings=("type", "lifecycle", "owner"),
        optional_strings=("system", "subcomponentOf"),
        optional_lists=("providesApis", "consumesApis", "dependsOn"),
    ),
    "API": KindRules(strings=("type", "lifecycle", "owner"), optional_strings=("system",)),
    "Resource": KindRules(
        strings=("type", "owner"), optional_strings=("system",), optional_lists=("dependsOn",)
    ),
    "System": KindRules(strings=("owner",), optional_strings=("domain", "type")),
    "Domain": KindRules(strings=("owner",), optional_strings=("subdomainOf", "type")),
    "Group": KindRules(
        strings=("type",),
        lists=("children",),
        optional_strings=("parent",),
        optional_lists=("members",),
        profile=True,
    ),
    "User": KindRules(lists=("memberOf",), profile=True),
    "Location": KindRules(optional_strings=("type", "target"), optional_lists=("targets",)),
    "Template": KindRules(api_versions=TEMPLATE_API_VERSIONS),
}
_PROFILE_FIELDS = ("displayName", "email", "picture")


class _Checker:
    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.annotations: Mapping[str, Any] = {}

    def add(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, hint))

    def add_key(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, hint, at_key=True))

    def string(
        self, parent: Mapping[str, Any], path: FieldPath, *, required: bool, trimmed: bool = False
    ) -> str | None:
        """A present field must be a non-empty string (``trimmed``: not only whitespace)."""
        key = str(path[-1])
        if key not in parent:
            if required:
                self.add(path, f"{path[-1]} is required", f"add `{path[-1]}: <value>`")
            return None
        value = parent[key]
        blank = isinstance(value, str) and trimmed and not value.strip()
        if not isinstance(value, str) or not value or blank:
            what = "empty" if value in ("", None) or blank else f"a {_type_name(value)}"
            self.add(
                path,
                f"{key} must be a non-empty string, not {what}",
                "write a text value (quote it if it looks like a number or boolean), "
                "or remove the field",
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


def is_object_name(value: str) -> bool:
    """Backstage's ``isValidObjectName``: 1-63 characters, [A-Za-z0-9] at both ends and
    [-A-Za-z0-9_.] between (entity names, key names, label values)."""
    return 1 <= len(value) <= 63 and _OBJECT_NAME.fullmatch(value) is not None


def is_dns_label(value: str) -> bool:
    """``isValidDnsLabel``: 1-63 of [a-z0-9] separated by runs of '-' (namespaces)."""
    return 1 <= len(value) <= 63 and _DNS_LABEL.fullmatch(value) is not None


def is_dns_subdomain(value: str) -> bool:
    """``isValidDnsSubdomain``: 1-253 characters of DNS labels joined by '.'."""
    return 1 <= len(value) <= 253 and all(is_dns_label(part) for part in value.split("."))


def is_key(value: str) -> bool:
    """``isValidLabelKey``/``isValidAnnotationKey``: ``[<dns subdomain>/]<object name>``."""
    parts = value.split("/")
    if len(parts) == 1:
        return is_object_name(parts[0])
    return len(parts) == 2 and is_dns_subdomain(parts[0]) and is_object_name(parts[1])


def is_api_version(value: str) -> bool:
    """``isValidApiVersion``: ``[<dns subdomain>/]<1-63 of [a-zA-Z0-9]>``."""
    parts = value.split("/")
    name = parts[-1]
    ok = 1 <= len(name) <= 63 and _API_VERSION_NAME.fullmatch(name) is not None
    if len(parts) == 1:
        return ok
    return len(parts) == 2 and ok and is_dns_subdomain(parts[0])


def is_url(value: str) -> bool:
    """Close to WHATWG ``new URL(value)`` succeeding, as ``isValidUrl`` asks: a scheme, and
    for web schemes a host without forbidden characters and a numeric port."""
    text = re.sub(r"[\t\n\r]", "", value).strip(_C0_AND_SPACE)
    if not _URL_SCHEME.match(text):
        return False
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in _SPECIAL_SCHEMES:
        return True
    authority = re.split(r"[/\\?#]", rest.lstrip("/\\"), maxsplit=1)[0]
    host, colon, port = authority.rpartition("@")[2].partition(":")
    if colon and port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return False
    return bool(host) and not any(char in host for char in _FORBIDDEN_HOST)


def _check_name(check: _Checker, value: str, path: FieldPath) -> None:
    if not is_object_name(value):
        check.add(
            path,
            f"{value!r} is not a valid entity name: 1-63 characters of [a-zA-Z0-9-_.], "
            "starting and ending with a letter or digit",
            "e.g. orders-api",
        )


def _check_key(check: _Checker, key: str, path: FieldPath, what: str) -> None:
    if not is_key(key):
        check.add_key(
            path,
            f"{key!r} is not a valid {what} key: an optional DNS prefix "
            "(<= 253 characters) and '/', then a name of 1-63 characters of "
            "[a-zA-Z0-9-_.], starting and ending with a letter or digit",
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
        if validate_value and item and not is_object_name(item):
            check.add(
                item_path,
                f"label value {item!r} must be empty or 1-63 characters of "
                "[a-zA-Z0-9-_.], starting and ending with a letter or digit",
                "e.g. tier: web",
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
    if namespace is not None and not is_dns_label(namespace):
        check.add(
            ("metadata", "namespace"),
            f"{namespace!r} is not a valid namespace: 1-63 lowercase letters and digits, "
            "separated by '-'",
            "e.g. default",
        )
    for key in ("uid", "etag"):
        check.string(metadata, ("metadata", key), required=False)
    title = check.string(metadata, ("metadata", "title"), required=False)
    description = metadata.get("description")
    if "description" in metadata and not isinstance(description, str):
        check.add(("metadata", "description"), "description must be a string")
        description = None
    tags: list[str] = []
    for index, tag in enumerate(check.strings(metadata, ("metadata", "tags"), required=False)):
        if len(tag) > 63 or not _TAG.fullmatch(tag):
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
        url = check.string(link, (*path, "url"), required=True)
        if url is not None and not is_url(url):
            check.add(
                (*path, "url"),
                f"{url!r} is not a valid URL",
                "write an absolute URL, e.g. https://example.com/runbook",
            )
        for key in ("title", "icon"):
            check.string(link, (*path, key), required=False, trimmed=True)
        check.string(link, (*path, "type"), required=False)


def _check_envelope(check: _Checker, data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    api_version = check.string(data, ("apiVersion",), required=True)
    kind = check.string(data, ("kind",), required=True)
    for key in data:
        if key not in _ENVELOPE_KEYS:
            hint = (
                "remove it: the catalog computes relations and status itself"
                if key in ("relations", "status")
                else _suggest(key, _ENVELOPE_KEYS) or "move it under metadata: or spec:"
            )
            check.add_key((key,), f"unknown top-level field {key!r}", hint)
    if api_version is not None and not is_api_version(api_version):
        check.add(
            ("apiVersion",),
            f"{api_version!r} is not a valid apiVersion: [<DNS prefix>/]<letters and digits>",
            "use backstage.io/v1alpha1",
        )
        api_version = None
    if kind is not None and not _KIND.fullmatch(kind):
        check.add(("kind",), f"{kind!r} is not a valid kind", "e.g. Component")
        kind = None
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
    if rules.profile and "profile" in spec:
        _check_profile(check, spec["profile"])
    if kind == "API":
        _check_definition(check, spec)
    if (
        kind == "Location"
        and "presence" in spec
        and spec["presence"]
        not in (
            "required",
            "optional",
        )
    ):
        check.add(
            ("spec", "presence"),
            f"presence must be required or optional, not {_render(spec['presence'])!r}",
            "write `presence: optional` (or remove it: required is the default)",
        )
    return found


def _check_profile(check: _Checker, profile: Any) -> None:
    if not isinstance(profile, dict):
        check.add(
            ("spec", "profile"),
            f"profile must be a mapping, not {_type_name(profile)}",
            "write displayName, email and picture under profile:",
        )
        return
    for key in _PROFILE_FIELDS:
        check.string(profile, ("spec", "profile", key), required=False)


def _check_definition(check: _Checker, spec: Mapping[str, Any]) -> None:
    definition = spec.get("definition")
    if isinstance(definition, dict) and len(definition) == 1:
        resolver, value = next(iter(definition.items()))
        if resolver in _TEXT_PLACEHOLDERS and isinstance(value, str):
            return  # the catalog's PlaceholderProcessor reads that file's text in
        if str(resolver).startswith("$"):
            check.add(
                ("spec", "definition"),
                f"definition {resolver}: does not give text"
                if resolver not in _TEXT_PLACEHOLDERS
                else f"definition {resolver}: needs a file name or URL",
                "write `definition: {$text: ./openapi.yaml}` ($json and $yaml give a "
                "structure, and a definition must be text)",
            )
            return
    if not (isinstance(definition, str) and definition):
        check.add(
            ("spec", "definition"),
            "an API needs a definition: the text of its specification, or {$text: <file>}",
            "add `definition: {$text: ./openapi.yaml}`",
        )


# The relation fields of each kind and the kind a reference in them defaults to, as the
# catalog's BuiltinKindsEntityProcessor emits relations: a reference it cannot parse fails
# the entity's processing.
_RELATION_FIELDS: Mapping[str, tuple[tuple[str, str | None], ...]] = {
    "Component": (
        ("owner", "group"),
        ("subcomponentOf", "component"),
        ("providesApis", "api"),
        ("consumesApis", "api"),
        ("dependsOn", None),
        ("dependencyOf", None),
        ("system", "system"),
    ),
    "API": (("owner", "group"), ("system", "system")),
    "Resource": (
        ("owner", "group"),
        ("dependsOn", None),
        ("dependencyOf", None),
        ("system", "system"),
    ),
    "User": (("memberOf", "group"),),
    "Group": (("parent", "group"), ("children", "group"), ("members", "user")),
    "System": (("owner", "group"), ("domain", "domain")),
    "Domain": (("owner", "group"), ("subdomainOf", "domain")),
}


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness (the catalog's checks are written in it)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and value == value  # NaN is falsy
    if isinstance(value, str):
        return value != ""
    return value is not None


def parse_ref(
    value: Any, default_kind: str | None, default_namespace: str = DEFAULT_NAMESPACE
) -> EntityRef:
    """Backstage's ``parseEntityRef``: ``[<kind>:][<namespace>/]<name>``, split at the first
    ':' and the first '/' (a ':' after the '/' belongs to the name), or a mapping with
    kind/namespace/name; raises :class:`InvalidEntityRef`."""
    if not _truthy(value):
        raise InvalidEntityRef("an entity reference must not be empty")
    if isinstance(value, str):
        colon, slash = value.find(":"), value.find("/")
        if slash != -1 and slash < colon:
            colon = -1
        kind = None if colon == -1 else value[:colon]
        namespace = None if slash == -1 else value[colon + 1 : slash]
        name: Any = value[max(colon + 1, slash + 1) :]
        if "" in (kind, namespace, name):
            raise InvalidEntityRef(f"{value!r} is not an entity reference [kind:][namespace/]name")
    else:
        fields = value if isinstance(value, dict) else {}
        kind, namespace, name = fields.get("kind"), fields.get("namespace"), fields.get("name")
    kind = kind if kind is not None else default_kind
    namespace = namespace if namespace is not None else default_namespace
    for part, what in ((kind, "kind"), (namespace, "namespace"), (name, "name")):
        if not _truthy(part):
            example = f"e.g. component:{value}" if what == "kind" and isinstance(value, str) else ""
            raise InvalidEntityRef(
                f"{_render(value)!r} has no {what}" + (f" ({example})" if example else "")
            )
    return EntityRef(str(kind).lower(), str(namespace).lower(), str(name))


def _check_relations(check: _Checker, kind: str, spec: Mapping[str, Any]) -> None:
    for field_name, default_kind in _RELATION_FIELDS.get(kind, ()):
        value = spec.get(field_name)
        if not _truthy(value):
            continue
        targets = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, target in targets:
            path: FieldPath = ("spec", field_name) if index is None else ("spec", field_name, index)
            try:
                parse_ref(target, default_kind)
            except InvalidEntityRef as exc:
                check.add(
                    path,
                    str(exc),
                    "write [kind:][namespace/]name, e.g. group:default/team-a"
                    + ("" if default_kind else " (the kind is required here)"),
                )


def _ref(check: _Checker, value: str | None, path: FieldPath, kind: str) -> EntityRef | None:
    if value is None:
        return None
    try:
        return parse_ref(value, kind)
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
        what = "missing" if "spec" not in data else f"a {_type_name(spec)}"
        check.add(
            ("spec",),
            f"a {kind} needs a spec mapping, not {what}",
            f"add `spec:` with {', '.join(needed) or 'its fields (it may be empty: spec: {})'}",
        )
        spec = {}
    elif kind is not None and isinstance(spec, dict):
        found = _check_spec(check, kind, spec)
        if not check.problems:  # the catalog emits relations only from a valid entity
            _check_relations(check, kind, spec)
    spec = spec if isinstance(spec, dict) else {}
    if check.problems or kind is None or api_version is None or base["name"] is None:
        return None, check.problems
    base.update(api_version=api_version, kind=kind, document=doc, spec=spec)
    builder = _BUILDERS.get(kind)
    entity = builder(check, base, {**spec, **found}) if builder else Entity(**base)
    return (None if check.problems else entity), check.problems
