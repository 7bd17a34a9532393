"""The container engine port: what the local target asks of docker or podman."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from shipyard.targets.local._process import OnLine

__all__ = [
    "BuildSpec",
    "ContainerEngine",
    "ContainerInfo",
    "ContainerSpec",
    "EngineKind",
    "HealthCheck",
    "ImageInfo",
    "Mount",
    "PortMapping",
]

EngineKind = Literal["docker", "podman"]


@dataclass(frozen=True, slots=True)
class PortMapping:
    """A container port published on the host; ``host_port=None`` lets the engine pick."""

    container_port: int
    host_port: int | None = None
    host_ip: str = "127.0.0.1"
    protocol: Literal["tcp", "udp"] = "tcp"


@dataclass(frozen=True, slots=True)
class Mount:
    """A host file or folder bind-mounted into the container (read-only by default)."""

    source: Path
    target: str
    read_only: bool = True

    def option(self) -> str:
        """The value of ``--mount`` (docker and podman alike). Its fields are separated by
        commas, so neither path may hold one: refused here rather than misread."""
        for path in (str(self.source), self.target):
            if "," in path or "\n" in path:
                raise ValueError(f"a bind mount path may not hold a comma or newline: {path!r}")
        option = f"type=bind,src={self.source},dst={self.target}"
        return f"{option},ro" if self.read_only else option


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A command the engine runs inside the container (exec form, no shell needed)."""

    command: tuple[str, ...]
    interval_s: float = 5.0
    timeout_s: float = 3.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """One image build: ``dockerfile`` is relative to ``context`` unless absolute."""

    reference: str
    context: Path
    dockerfile: Path = Path("Dockerfile")
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One detached container. ``cpus`` in cores, ``memory`` like ``512Mi`` or ``1G``."""

    name: str
    image: str
    ports: tuple[PortMapping, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    cpus: float | None = None
    memory: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    id: str
    references: tuple[str, ...]
    digests: tuple[str, ...]
    labels: Mapping[str, str]

    @property
    def digest(self) -> str:
        """The registry digest when the image was pushed, else its content id."""
        return self.digests[0].rpartition("@")[2] if self.digests else self.id


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    image_id: str
    status: str
    running: bool
    labels: Mapping[str, str]
    ports: tuple[PortMapping, ...]
    health: str | None

    def host_port(self, container_port: int) -> int:
        for port in self.ports:
            if port.container_port == container_port and port.host_port is not None:
                return port.host_port
        raise KeyError(f"container {self.name} does not publish port {container_port}")


class ContainerEngine(Protocol):
    """docker or podman. Every method raises a :mod:`~shipyard.targets.local.errors` type."""

    @property
    def kind(self) -> EngineKind: ...

    def build(self, spec: BuildSpec, *, on_line: OnLine | None = None) -> ImageInfo: ...

    def inspect_image(self, reference: str) -> ImageInfo: ...

    def push(
        self, reference: str, *, tls_verify: bool = True, on_line: OnLine | None = None
    ) -> str:
        """Push to the reference's registry; the registry's digest of the image.
        ``tls_verify=False`` allows plain HTTP (podman; docker decides it in its daemon)."""
        ...

    def remove_image(self, reference: str) -> None: ...

    def list_images(
        self, labels: Mapping[str, str], *, include_untagged: bool = False
    ) -> list[ImageInfo]:
        """Named images with all these labels; ``include_untagged`` adds intermediate and
        replaced ones (some engines copy build labels onto intermediate images)."""
        ...

    def run(self, spec: ContainerSpec) -> ContainerInfo: ...

    def stop(self, name: str, *, timeout_s: int = 10) -> None: ...

    def remove(self, name: str) -> None: ...

    def inspect(self, name: str) -> ContainerInfo: ...

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]: ...

    def logs(self, name: str, *, tail: int | None = None) -> str: ...
