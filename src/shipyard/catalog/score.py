"""Score workloads (``score.dev/v1b1``): what runs, validated against the published schema.

The schema is Score's own ``score-v1b1.json`` (score-spec/spec, Apache-2.0), shipped beside
this module. On top of it: placeholders (``${metadata.*}``, ``${resources.*}``, ``$$``
escapes) are checked, ``image: .`` means "build from the repo's Dockerfile", and a service
port's ``targetPort`` defaults to its ``port``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, JsonValue

from shipyard.catalog._jsonschema import violations
from shipyard.catalog._problems import CatalogError, FieldPath, Problem
from shipyard.catalog._yaml import LocatedDocument, LocatedFile, load_file, load_text, one_document

__all__ = [
    "DEFAULT_PORT",
    "BuildSpec",
    "Container",
    "ContainerFile",
    "Probe",
    "ResourceAmounts",
    "ResourceDependency",
    "ServicePort",
    "Workload",
    "default_workload",
    "load_workload",
    "parse_workload",
    "parse_workload_text",
]

DEFAULT_PORT = 8080
BUILD_IMAGE = "."
_PLACEHOLDER = re.compile(r"\$\$|\$\{([^}]*)\}|\$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuildSpec(_Frozen):
    """Build the image from the component's source: ``image: .`` in Score."""

    context: str = "."
    dockerfile: str = "Dockerfile"


class ResourceAmounts(_Frozen):
    cpu: str | None = None
    memory: str | None = None


class Probe(_Frozen):
    kind: Literal["http", "exec"]
    path: str | None = None
    port: int | None = None
    scheme: str | None = None
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()


class ContainerFile(_Frozen):
    target: str
    mode: str | None = None
    source: str | None = None
    content: str | None = None
    binary_content: str | None = None
    no_expand: bool = False


class Container(_Frozen):
    """One container. ``variables`` are final; ``pending_variables`` still name resources
    (``${resources.db.host}``) and are expanded when those are provisioned."""

    name: str
    image: str | None = None
    build: BuildSpec | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    variables: dict[str, str] = {}
    pending_variables: dict[str, str] = {}
    files: tuple[ContainerFile, ...] = ()
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    requests: ResourceAmounts = ResourceAmounts()
    limits: ResourceAmounts = ResourceAmounts()


class ServicePort(_Frozen):
    name: str
    port: int
    target_port: int
    protocol: Literal["TCP", "UDP"] = "TCP"


class ResourceDependency(_Frozen):
    """A resource the workload needs (recorded now, provisioned later)."""

    name: str
    type: str
    class_: str | None = None
    id: str | None = None
    params: dict[str, JsonValue] = {}


class Workload(_Frozen):
    name: str
    containers: tuple[Container, ...]
    ports: tuple[ServicePort, ...] = ()
    resources: tuple[ResourceDependency, ...] = ()
    default: bool = False


def default_workload(name: str, port: int = DEFAULT_PORT) -> Workload:
    """No score.yaml: one container built from ./Dockerfile, listening on ``port``."""
    return Workload(
        name=name,
        containers=(Container(name="main", build=BuildSpec()),),
        ports=(ServicePort(name="http", port=port, target_port=port),),
        default=True,
    )


@functools.cache
def _validator() -> Draft202012Validator:
    text = (
        resources.files("shipyard.catalog")
        .joinpath("score-v1b1.schema.json")
        .read_text(encoding="utf-8")
    )
    return Draft202012Validator(json.loads(text))


class _Expander:
    """Checks and expands placeholders; problems are collected, never raised."""

    def __init__(self, doc: LocatedDocument, metadata: Mapping[str, Any], names: set[str]):
        self.doc, self.metadata, self.resources = doc, metadata, names
        self.problems: list[Problem] = []

    def expand(self, text: str, path: FieldPath) -> tuple[str, bool]:
        """``text`` with ``${metadata.*}`` and ``$$`` expanded; True if resources remain."""
        pending = False

        def replace(match: re.Match[str]) -> str:
            nonlocal pending
            whole, ref = match.group(0), match.group(1)
            if whole == "$$":
                return "$"
            if ref is None:
                if text[match.end() : match.end() + 1] == "{":
                    self._bad(path, "an unterminated ${ placeholder", "close it with }")
                return "$"
            value, resource = self._ref(ref.strip(), path)
            pending = pending or resource
            return value

        return _PLACEHOLDER.sub(replace, text), pending

    def _bad(self, path: FieldPath, message: str, hint: str) -> None:
        self.problems.append(self.doc.problem(path, message, hint))

    def _ref(self, ref: str, path: FieldPath) -> tuple[str, bool]:
        parts = ref.split(".")
        if parts[0] == "metadata" and len(parts) > 1:
            value: Any = self.metadata
            for part in parts[1:]:
                value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value), False
            self._bad(
                path,
                f"${{{ref}}} names no metadata field",
                "use ${metadata.name} or a key under metadata",
            )
            return "", False
        if parts[0] == "resources" and len(parts) > 1:
            if parts[1] not in self.resources:
                known = ", ".join(sorted(self.resources)) or "none declared"
                self._bad(
                    path,
                    f"${{{ref}}} names an undeclared resource {parts[1]!r} (declared: {known})",
                    f"declare it under resources: {parts[1]}:",
                )
            return "${" + ref + "}", True
        self._bad(
            path,
            f"${{{ref}}} is not a Score placeholder",
            "use ${metadata.<key>} or ${resources.<name>.<output>}; write $$ for a literal $",
        )
        return "", False


def _probe(raw: Any) -> Probe | None:
    if not isinstance(raw, Mapping):
        return None
    http, exec_ = raw.get("httpGet"), raw.get("exec")
    if isinstance(http, Mapping):
        headers = tuple(
            (str(h.get("name")), str(h.get("value")))
            for h in http.get("httpHeaders") or []
            if isinstance(h, Mapping)
        )
        return Probe(
            kind="http",
            path=http.get("path"),
            port=http.get("port"),
            scheme=http.get("scheme"),
            host=http.get("host"),
            headers=headers,
        )
    if isinstance(exec_, Mapping):
        return Probe(kind="exec", command=tuple(exec_.get("command") or ()))
    return None


def _files(raw: Any) -> list[tuple[str, Mapping[str, Any], FieldPath]]:
    if isinstance(raw, list):  # deprecated array form: items carry their own target
        return [(str(item.get("target")), item, (i,)) for i, item in enumerate(raw)]
    if isinstance(raw, Mapping):
        return [(target, item, (target,)) for target, item in raw.items()]
    return []


def _container(name: str, raw: Mapping[str, Any], expander: _Expander) -> Container:
    base: FieldPath = ("containers", name)
    variables: dict[str, str] = {}
    pending: dict[str, str] = {}
    for key, value in (raw.get("variables") or {}).items():
        expanded, waits = expander.expand(value, (*base, "variables", key))
        if waits:
            pending[key] = value
        else:
            variables[key] = expanded
    files = []
    for target, item, sub in _files(raw.get("files")):
        content = item.get("content")
        if isinstance(content, str) and not item.get("noExpand"):
            expander.expand(content, (*base, "files", *sub, "content"))
        files.append(
            ContainerFile(
                target=target,
                mode=item.get("mode"),
                source=item.get("source"),
                content=content,
                binary_content=item.get("binaryContent"),
                no_expand=bool(item.get("noExpand")),
            )
        )
    image = raw["image"]
    amounts = raw.get("resources") or {}
    return Container(
        name=name,
        image=None if image == BUILD_IMAGE else image,
        build=BuildSpec() if image == BUILD_IMAGE else None,
        command=tuple(raw.get("command") or ()),
        args=tuple(raw.get("args") or ()),
        variables=variables,
        pending_variables=pending,
        files=tuple(files),
        liveness_probe=_probe(raw.get("livenessProbe")),
        readiness_probe=_probe(raw.get("readinessProbe")),
        requests=ResourceAmounts(**_amounts(amounts.get("requests"))),
        limits=ResourceAmounts(**_amounts(amounts.get("limits"))),
    )


def _amounts(raw: Any) -> dict[str, str | None]:
    raw = raw if isinstance(raw, Mapping) else {}
    return {key: None if raw.get(key) is None else str(raw[key]) for key in ("cpu", "memory")}


def _build(doc: LocatedDocument) -> tuple[Workload | None, list[Problem]]:
    data = doc.data
    problems = [
        doc.problem(v.path, v.message, _hint(v.path, v.keyword), at_key=v.at_key)
        for v in violations(_validator(), data)
    ]
    if problems:
        return None, problems
    declared = dict(data.get("resources") or {})
    expander = _Expander(doc, data["metadata"], set(declared))
    containers = tuple(_container(name, raw, expander) for name, raw in data["containers"].items())
    ports = tuple(
        ServicePort(
            name=name,
            port=raw["port"],
            target_port=raw.get("targetPort", raw["port"]),
            protocol=raw.get("protocol", "TCP"),
        )
        for name, raw in ((data.get("service") or {}).get("ports") or {}).items()
    )
    deps = tuple(
        ResourceDependency(
            name=name,
            type=raw["type"],
            class_=raw.get("class"),
            id=raw.get("id"),
            params=raw.get("params") or {},
        )
        for name, raw in declared.items()
    )
    if expander.problems:
        return None, expander.problems
    return Workload(
        name=data["metadata"]["name"], containers=containers, ports=ports, resources=deps
    ), []


def _hint(path: FieldPath, keyword: str) -> str | None:
    if path == ("apiVersion",):
        return "use apiVersion: score.dev/v1b1"
    return {
        "required": "add the field (see https://docs.score.dev/docs/score-specification/)",
        "additionalProperties": "remove the field or check its spelling",
        "pattern": "names are 2-63 lowercase letters, digits and '-'",
        "minLength": "names are 2-63 lowercase letters, digits and '-'",
    }.get(keyword)


def _first_workload(located: LocatedFile) -> tuple[Workload | None, list[Problem]]:
    return one_document(
        located,
        _build,
        empty=("the file holds no Score workload", "start it with `apiVersion: score.dev/v1b1`"),
        extra=("a Score file holds one workload", "move the other workloads to their own files"),
        every_extra=False,
    )


def parse_workload_text(text: str | bytes, file: str) -> tuple[Workload | None, list[Problem]]:
    return _first_workload(load_text(text, file))


def parse_workload(path: Path, display: str | None = None) -> tuple[Workload | None, list[Problem]]:
    """Parse and validate a score file: the workload, or None and every problem."""
    return _first_workload(load_file(path, display))


def load_workload(path: Path, display: str | None = None) -> Workload:
    """Like :func:`parse_workload`, raising :class:`CatalogError` on problems."""
    workload, problems = parse_workload(path, display)
    if workload is None:
        raise CatalogError(problems)
    return workload
