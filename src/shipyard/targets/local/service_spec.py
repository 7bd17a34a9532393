"""What one service container runs: the container-relevant part of a desired state plus
the release's image, as a plain record that travels through Pulumi inputs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from shipyard.catalog.score import Container, Probe
from shipyard.catalog.state import DesiredState
from shipyard.targets.local.errors import LocalTargetError
from shipyard.targets.local.resources import parse_cpu

__all__ = [
    "ServiceSpec",
    "UnsupportedWorkloadError",
    "container_name",
    "service_spec",
]

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


class UnsupportedWorkloadError(LocalTargetError):
    """The workload asks for something the local target cannot run yet."""


def container_name(component: str, environment: str, revision: int) -> str:
    """``shipyard-<namespace>-<name>-<environment>-r<revision>``, deterministic."""
    raw = f"shipyard-{component.replace('/', '-')}-{environment}"
    return f"{_UNSAFE.sub('-', raw.lower()).strip('-.')}-r{revision}"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    component: str
    environment: str
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

    def spec_hash(self) -> str:
        """What a container runs, hashed: equal hashes may adopt each other's container."""
        running = {
            key: value
            for key, value in self.inputs().items()
            if key not in ("component", "environment", "image", "digest", "tag", "labels")
        }
        text = json.dumps(running, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def inputs(self) -> dict[str, Any]:
        data = asdict(self)
        data["other_ports"] = list(self.other_ports)
        data["args"] = list(self.args)
        data["env"] = dict(self.env)
        data["labels"] = dict(self.labels)
        return data

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> ServiceSpec:
        cpus = props.get("cpus")
        return cls(
            component=str(props["component"]),
            environment=str(props["environment"]),
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


def service_spec(
    desired: DesiredState,
    *,
    image_id: str,
    image: str,
    digest: str,
    tag: str,
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
    return ServiceSpec(
        component=desired.component,
        environment=desired.environment,
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
    )
