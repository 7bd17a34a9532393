"""What one service container runs: the container-relevant part of a desired state plus
the release's image, as a plain record that travels through Pulumi inputs."""
# The record carries the files to mount (their bytes, base64): they are written to a
# per-revision folder by the provider that starts the container (see revisions.py).

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from shipyard.catalog.score import Container, ContainerFile, Probe
from shipyard.catalog.state import DesiredState
from shipyard.targets.local.errors import LocalTargetError
from shipyard.targets.local.resources import parse_cpu

__all__ = [
    "DEFAULT_FILE_MODE",
    "MountedFile",
    "ServiceSpec",
    "UnsupportedWorkloadError",
    "container_name",
    "service_spec",
]

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
_NAME_LIMIT = 80
"""The readable part of a container name (engines take longer ones; people read these)."""
DEFAULT_FILE_MODE = 0o600
"""A mounted file's mode when the workload gives none: not readable by other users."""


class UnsupportedWorkloadError(LocalTargetError):
    """The workload asks for something the local target cannot run yet."""


def container_name(component: str, environment: str, revision: int, *, instance: str) -> str:
    """``shipyard-<instance>-<namespace>-<name>-<environment>-<hash>-r<revision>``:
    deterministic, engine-safe, and never the same for two (instance, component,
    environment): the readable part may lose characters, the hash of the exact
    ``component/environment`` does not."""
    readable = _UNSAFE.sub("-", f"{component.replace('/', '-')}-{environment}".lower())
    readable = readable.strip("-._")[:_NAME_LIMIT].strip("-._")
    exact = hashlib.sha256(f"{component}/{environment}".encode()).hexdigest()[:6]
    return f"shipyard-{instance}-{readable}-{exact}-r{revision}"


@dataclass(frozen=True, slots=True)
class MountedFile:
    """A file of the workload, mounted read-only into the container at ``target``."""

    target: str
    data: str
    """The file's bytes, base64 (text or binary alike)."""
    mode: int = DEFAULT_FILE_MODE

    def content(self) -> bytes:
        return base64.b64decode(self.data)

    def inputs(self) -> dict[str, Any]:
        return {"target": self.target, "data": self.data, "mode": self.mode}

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> MountedFile:
        return cls(str(props["target"]), str(props["data"]), int(props["mode"]))


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    component: str
    environment: str
    instance: str
    """The Shipyard that runs it (``<data_dir>/instance-id``): in its name and labels."""
    image_id: str
    """The local image's content id: exactly what was built, no pull needed."""
    image: str
    digest: str
    tag: str
    port: int
    """The container port the route sends traffic to (the first ``targetPort``)."""
    other_ports: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    cpus: float | None = None
    memory: str | None = None
    health_path: str = "/"
    public: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels for the containers (e.g. a test run's)."""
    files: tuple[MountedFile, ...] = ()
    """Files mounted read-only into the container (their content is in the hash)."""

    def spec_hash(self) -> str:
        """What a container runs, hashed: equal hashes may adopt each other's container."""
        running = {
            key: value
            for key, value in self.inputs().items()
            if key
            not in ("component", "environment", "instance", "image", "digest", "tag", "labels")
        }
        text = json.dumps(running, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def inputs(self) -> dict[str, Any]:
        data = asdict(self)
        data["other_ports"] = list(self.other_ports)
        data["args"] = list(self.args)
        data["env"] = dict(self.env)
        data["labels"] = dict(self.labels)
        data["files"] = [file.inputs() for file in self.files]
        return data

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> ServiceSpec:
        cpus = props.get("cpus")
        return cls(
            component=str(props["component"]),
            environment=str(props["environment"]),
            instance=str(props["instance"]),
            image_id=str(props["image_id"]),
            image=str(props["image"]),
            digest=str(props["digest"]),
            tag=str(props["tag"]),
            port=int(props["port"]),
            other_ports=tuple(int(p) for p in props.get("other_ports") or ()),
            env={str(k): str(v) for k, v in (props.get("env") or {}).items()},
            args=tuple(str(a) for a in props.get("args") or ()),
            cpus=None if cpus is None else float(cpus),
            memory=props.get("memory"),
            health_path=str(props.get("health_path") or "/"),
            public=bool(props.get("public")),
            labels={str(k): str(v) for k, v in (props.get("labels") or {}).items()},
            files=tuple(MountedFile.from_inputs(f) for f in props.get("files") or ()),
        )


def _health_path(container: Container) -> str:
    probes: list[Probe | None] = [container.readiness_probe, container.liveness_probe]
    for probe in probes:
        if probe is not None and probe.kind == "http" and probe.path:
            return probe.path if probe.path.startswith("/") else f"/{probe.path}"
    return "/"


def _container(desired: DesiredState) -> Container:
    where = f"{desired.component} ({desired.environment})"
    if len(desired.containers) != 1:
        raise UnsupportedWorkloadError(
            f"{where}: the local target runs exactly one container per workload, the "
            f"workload has {len(desired.containers)}: keep one container in score.yaml"
        )
    container = desired.containers[0]
    if container.command:
        raise UnsupportedWorkloadError(
            f"{where}: container {container.name!r} overrides the image's entrypoint "
            "(`command`), which the local target does not support yet: use `args`, or set "
            "ENTRYPOINT in the Dockerfile"
        )
    if container.pending_variables:
        names = ", ".join(sorted(container.pending_variables))
        raise UnsupportedWorkloadError(
            f"{where}: variables {names} name workload resources, which the local target "
            "does not provision yet: give them literal values for this environment"
        )
    return container


def _mounted(where: str, file: ContainerFile) -> MountedFile:
    data = file.data
    if file.pending:
        raise UnsupportedWorkloadError(
            f"{where}: the content of file {file.target} names workload resources, which the "
            "local target does not provision yet: give it literal content (or set noExpand)"
        )
    if data is None:
        raise UnsupportedWorkloadError(
            f"{where}: file {file.target} has a source ({file.source}) that was not read: "
            "resolve the component from its folder so the file can be found"
        )
    if "," in file.target:
        raise UnsupportedWorkloadError(
            f"{where}: file target {file.target!r} holds a comma, which the container "
            "engine's --mount option cannot carry: rename the file"
        )
    mode = DEFAULT_FILE_MODE if file.mode is None else int(file.mode, 8)
    return MountedFile(file.target, base64.b64encode(data).decode("ascii"), mode)


def service_spec(
    desired: DesiredState,
    *,
    image_id: str,
    image: str,
    digest: str,
    tag: str,
    instance: str,
    labels: Mapping[str, str] | None = None,
) -> ServiceSpec:
    """The service of ``desired`` running the image ``image_id``; raises
    :class:`UnsupportedWorkloadError` for what the local target cannot run."""
    container = _container(desired)
    if not desired.ports:
        raise UnsupportedWorkloadError(
            f"{desired.component} ({desired.environment}): the workload publishes no port: "
            "add `service.ports` to score.yaml or set the `port` setting"
        )
    ports = [port.target_port for port in desired.ports]
    where = f"{desired.component} ({desired.environment})"
    return ServiceSpec(
        component=desired.component,
        environment=desired.environment,
        instance=instance,
        image_id=image_id,
        image=image,
        digest=digest,
        tag=tag,
        port=ports[0],
        other_ports=tuple(dict.fromkeys(p for p in ports[1:] if p != ports[0])),
        env=dict(container.variables),
        args=container.args,
        cpus=parse_cpu(container.limits.cpu or desired.scaling.cpu),
        memory=container.limits.memory or desired.scaling.memory,
        health_path=_health_path(container),
        public=desired.public,
        labels=dict(labels or {}),
        files=tuple(_mounted(where, file) for file in container.files),
    )
