"""Score workloads (``score.dev/v1b1``): what runs, validated against the published schema.

The schema is Score's own ``score-v1b1.json`` (score-spec/spec, Apache-2.0), shipped beside
this module. On top of it: placeholders (``${metadata.*}``, ``${resources.*}``, ``$$``
escapes) are checked, ``image: .`` means "build from the repo's Dockerfile", and a service
port's ``targetPort`` defaults to its ``port``.

Container ``files`` (the map keyed by target path, or the deprecated array) keep their
final content: inline ``content`` expanded like variables (unless ``noExpand``),
``binaryContent`` checked as base64, and a ``source`` file read when the caller names the
folder it must stay inside (``sources_root``; relative to the score file's folder).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import posixpath
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
MAX_FILE_BYTES = 1024 * 1024
"""The largest ``files`` entry (inline or ``source``): config files, not data sets."""
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
    """A file mounted into the container at ``target``. ``content`` is final (placeholders
    expanded unless ``no_expand``) and ``binary_content`` is base64; a ``source`` file's
    bytes land in one of them once read (:func:`parse_workload` with ``sources_root``),
    else both stay None. ``pending``: the content still names resources."""

    target: str
    mode: str | None = None
    source: str | None = None
    content: str | None = None
    binary_content: str | None = None
    no_expand: bool = False
    pending: bool = False

    @property
    def data(self) -> bytes | None:
        """The file's bytes; None while a ``source`` is unread."""
        if self.binary_content is not None:
            return base64.b64decode(self.binary_content)
        return None if self.content is None else self.content.encode("utf-8")


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
                    self.bad(path, "an unterminated ${ placeholder", "close it with }")
                return "$"
            value, resource = self._ref(ref.strip(), path)
            pending = pending or resource
            return value

        return _PLACEHOLDER.sub(replace, text), pending

    def bad(self, path: FieldPath, message: str, hint: str | None) -> None:
        self.problems.append(self.doc.problem(path, message, hint))

    def _ref(self, ref: str, path: FieldPath) -> tuple[str, bool]:
        parts = ref.split(".")
        if parts[0] == "metadata" and len(parts) > 1:
            value: Any = self.metadata
            for part in parts[1:]:
                value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value), False
            self.bad(
                path,
                f"${{{ref}}} names no metadata field",
                "use ${metadata.name} or a key under metadata",
            )
            return "", False
        if parts[0] == "resources" and len(parts) > 1:
            if parts[1] not in self.resources:
                known = ", ".join(sorted(self.resources)) or "none declared"
                self.bad(
                    path,
                    f"${{{ref}}} names an undeclared resource {parts[1]!r} (declared: {known})",
                    f"declare it under resources: {parts[1]}:",
                )
            return "${" + ref + "}", True
        self.bad(
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


class _FileReader:
    """Reads ``source`` files (relative to the score file's folder) that stay inside
    ``root``; without a root (or a folder) sources are left unread."""

    def __init__(self, folder: Path | None, root: Path | None) -> None:
        self.folder = folder
        self.root = root.resolve() if root is not None else None

    def read(self, source: str, path: FieldPath, expander: _Expander) -> bytes | None:
        if self.folder is None or self.root is None:
            return None
        candidate = (self.folder / source).resolve()
        if not candidate.is_relative_to(self.root):
            expander.bad(
                path,
                f"source {source!r} points outside the component's folder {self.root}",
                "give a path inside the component's folder, relative to the score file",
            )
            return None
        if not candidate.is_file():
            expander.bad(
                path,
                f"source {source!r} is not a file ({candidate} "
                f"{'is not a regular file' if candidate.exists() else 'does not exist'})",
                "create it, or fix the path (relative to the score file's folder)",
            )
            return None
        with candidate.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # read bounded: the file may be growing
        if len(data) > MAX_FILE_BYTES:
            expander.bad(path, f"source {source!r} is over 1 MiB", "mount a smaller file")
            return None
        return data


def _file_problems(target: str, item: Mapping[str, Any], where: FieldPath) -> list[str]:
    problems = []
    if not target.startswith("/"):
        problems.append(f"the target {target!r} is not an absolute path in the container")
    elif posixpath.normpath(target) != target.rstrip("/") or target.endswith("/"):
        problems.append(f"the target {target!r} is not a plain path to a file (no `..`, `//`)")
    if any(ord(char) < 0x20 or char == "\x7f" for char in target):
        problems.append(f"the target {target!r} holds control characters")
    content = item.get("content")
    if isinstance(content, str) and len(content.encode("utf-8")) > MAX_FILE_BYTES:
        problems.append("the inline content is over 1 MiB")
    return problems


def _container_file(
    target: str, item: Mapping[str, Any], path: FieldPath, expander: _Expander, reader: _FileReader
) -> ContainerFile | None:
    for message in _file_problems(target, item, path):
        expander.bad(path, message, "give the absolute path of a file, e.g. /etc/app/config.yaml")
        return None
    no_expand = bool(item.get("noExpand"))
    content: str | None = item.get("content")
    binary: str | None = item.get("binaryContent")
    source: str | None = item.get("source")
    pending = False
    if binary is not None:
        try:
            data = base64.b64decode(binary, validate=True)
        except binascii.Error:
            expander.bad((*path, "binaryContent"), "binaryContent is not base64", None)
            return None
        if len(data) > MAX_FILE_BYTES:
            expander.bad((*path, "binaryContent"), "binaryContent is over 1 MiB", None)
            return None
    elif source is not None:
        raw = reader.read(source, (*path, "source"), expander)
        if raw is not None:
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError:
                binary = base64.b64encode(raw).decode("ascii")
    if content is not None and not no_expand:
        expanded, pending = expander.expand(content, (*path, "source" if source else "content"))
        content = content if pending else expanded
    return ContainerFile(
        target=target,
        mode=item.get("mode"),
        source=source,
        content=content,
        binary_content=binary,
        no_expand=no_expand,
        pending=pending,
    )


def _container(
    name: str, raw: Mapping[str, Any], expander: _Expander, reader: _FileReader
) -> Container:
    base: FieldPath = ("containers", name)
    variables: dict[str, str] = {}
    pending: dict[str, str] = {}
    for key, value in (raw.get("variables") or {}).items():
        expanded, waits = expander.expand(value, (*base, "variables", key))
        if waits:
            pending[key] = value
        else:
            variables[key] = expanded
    files: list[ContainerFile] = []
    for target, item, sub in _files(raw.get("files")):
        path = (*base, "files", *sub)
        if any(f.target == target for f in files):
            expander.bad(path, f"two files have the target {target!r}", "keep one")
            continue
        file = _container_file(target, item, path, expander, reader)
        if file is not None:
            files.append(file)
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


def _build(
    doc: LocatedDocument, sources_root: Path | None = None
) -> tuple[Workload | None, list[Problem]]:
    data = doc.data
    problems = [
        doc.problem(v.path, v.message, _hint(v.path, v.keyword), at_key=v.at_key)
        for v in violations(_validator(), data)
    ]
    if problems:
        return None, problems
    declared = dict(data.get("resources") or {})
    expander = _Expander(doc, data["metadata"], set(declared))
    reader = _FileReader(doc.directory, sources_root)
    containers = tuple(
        _container(name, raw, expander, reader) for name, raw in data["containers"].items()
    )
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


def _first_workload(
    located: LocatedFile, sources_root: Path | None = None
) -> tuple[Workload | None, list[Problem]]:
    return one_document(
        located,
        functools.partial(_build, sources_root=sources_root),
        empty=("the file holds no Score workload", "start it with `apiVersion: score.dev/v1b1`"),
        extra=("a Score file holds one workload", "move the other workloads to their own files"),
        every_extra=False,
    )


def parse_workload_text(text: str | bytes, file: str) -> tuple[Workload | None, list[Problem]]:
    return _first_workload(load_text(text, file))


def parse_workload(
    path: Path, display: str | None = None, *, sources_root: Path | None = None
) -> tuple[Workload | None, list[Problem]]:
    """Parse and validate a score file: the workload, or None and every problem.

    ``sources_root``: the component's folder; ``files`` with a ``source`` are read
    (relative to the score file's folder, refused outside ``sources_root``), and a missing
    one is a problem. Without it sources stay unread (checking a score file alone)."""
    return _first_workload(load_file(path, display), sources_root)


def load_workload(
    path: Path, display: str | None = None, *, sources_root: Path | None = None
) -> Workload:
    """Like :func:`parse_workload`, raising :class:`CatalogError` on problems."""
    workload, problems = parse_workload(path, display, sources_root=sources_root)
    if workload is None:
        raise CatalogError(problems)
    return workload
