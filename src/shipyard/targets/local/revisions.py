"""Revisions of a local service: start the new one, wait until it answers, switch the
route, then stop and remove every other one. Reconciled by labels, so a rerun after a
crash adopts what the interrupted run left instead of starting a second copy.

Everything is found by the labels of (instance, component, environment): another
Shipyard's containers of the same component are never adopted or removed. A revision's
files (the workload's ``files``) are written to ``<state_dir>/revisions/<container>/``
(0700) and bind-mounted read-only; the folder goes with its container.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import structlog

from shipyard.targets.local._cli_errors import log_tail
from shipyard.targets.local.containers import (
    ContainerEngine,
    ContainerInfo,
    ContainerSpec,
    Mount,
    PortMapping,
)
from shipyard.targets.local.errors import (
    ContainerEngineError,
    ContainerExistsError,
    ContainerNotFoundError,
    HealthCheckTimeoutError,
    LocalTargetError,
)
from shipyard.targets.local.health import wait_until_healthy
from shipyard.targets.local.labels import INSTANCE, REVISION, SPEC, TAG, shipyard_labels
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.service_spec import MountedFile, ServiceSpec, container_name

__all__ = [
    "Revision",
    "RevisionStartError",
    "Rollout",
    "current_revision",
    "remove_service",
    "roll_out",
    "service_labels",
]

_STOP_TIMEOUT_S = 5
_log = structlog.get_logger(__name__)


class RevisionStartError(LocalTargetError):
    """A new revision's container exited right after it started."""


def service_labels(component: str, environment: str, instance: str) -> dict[str, str]:
    """The labels every revision container of (component, environment) made by the
    Shipyard ``instance`` carries: what every lookup and sweep filters by."""
    return shipyard_labels(component, instance=instance, environment=environment)


def _files_root(proxy: Proxy) -> Path:
    return proxy.state_dir / "revisions"


def _service_prefix(component: str, environment: str, instance: str) -> str:
    """The folder (and container) name of a service without its ``-r<N>``."""
    return container_name(component, environment, 0, instance=instance).removesuffix("-r0")


def _write_files(folder: Path, files: tuple[MountedFile, ...]) -> tuple[Mount, ...]:
    """Write a new revision's files to ``folder`` (made afresh, 0700): one mount each."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700)
    mounts = []
    for index, file in enumerate(files):
        host = folder / f"{index}-{PurePosixPath(file.target).name}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(host, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(file.content())
            os.fchmod(out.fileno(), file.mode)
        mounts.append(Mount(host, file.target))
    return tuple(mounts)


def _remove_files(root: Path, name: str) -> None:
    shutil.rmtree(root / name, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Revision:
    number: int
    container: str
    upstream: str
    """``127.0.0.1:<host port>`` of the routed container port."""
    spec_hash: str
    tag: str


@dataclass(frozen=True, slots=True)
class Rollout:
    revision: Revision
    adopted: bool
    """True when a container left by an earlier, interrupted run was reused."""
    removed: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds: ``start`` (container run), ``health``, ``switch`` (route), ``cleanup``."""


def _number(container: ContainerInfo) -> int:
    try:
        return int(container.labels.get(REVISION, "0"))
    except ValueError:
        return 0


def _revision(container: ContainerInfo, port: int) -> Revision:
    return Revision(
        number=_number(container),
        container=container.name,
        upstream=f"127.0.0.1:{container.host_port(port)}",
        spec_hash=container.labels.get(SPEC, ""),
        tag=container.labels.get(TAG, ""),
    )


def _container_spec(
    spec: ServiceSpec, number: int, mounts: tuple[Mount, ...] = ()
) -> ContainerSpec:
    host_ip = "0.0.0.0" if spec.public else "127.0.0.1"  # noqa: S104 (public: on purpose)
    labels = {
        **spec.labels,
        **service_labels(spec.component, spec.environment, spec.instance),
        TAG: spec.tag,
        REVISION: str(number),
        SPEC: spec.spec_hash(),
    }
    return ContainerSpec(
        name=container_name(spec.component, spec.environment, number, instance=spec.instance),
        image=spec.image_id,
        ports=tuple(PortMapping(port, None, host_ip) for port in (spec.port, *spec.other_ports)),
        env=spec.env,
        command=spec.args,
        cpus=spec.cpus,
        memory=spec.memory,
        labels=labels,
        mounts=mounts,
    )


def _start(
    containers: ContainerEngine, spec: ServiceSpec, number: int, files_root: Path
) -> ContainerInfo:
    """Run revision ``number``; a container of that name left by a crash is replaced."""
    name = container_name(spec.component, spec.environment, number, instance=spec.instance)
    mounts = _write_files(files_root / name, spec.files) if spec.files else ()
    container = _container_spec(spec, number, mounts)
    try:
        return containers.run(container)
    except ContainerExistsError:
        containers.remove(container.name)
        return containers.run(container)


def _adoptable(existing: list[ContainerInfo], spec_hash: str) -> ContainerInfo | None:
    matching = [c for c in existing if c.running and c.labels.get(SPEC) == spec_hash]
    return max(matching, key=_number, default=None)


def _wait_healthy(
    containers: ContainerEngine, spec: ServiceSpec, revision: Revision, timeout_s: float
) -> None:
    url = f"http://{revision.upstream}{spec.health_path}"
    try:
        wait_until_healthy(url, timeout_s=timeout_s)
    except HealthCheckTimeoutError as exc:
        logs = _logs(containers, revision.container)
        raise HealthCheckTimeoutError(
            f"revision {revision.number} of {spec.component} ({spec.environment}, image "
            f"{spec.image}) never became healthy, so traffic stays on the running revision: "
            f"{exc}\nlast lines of the container's log:\n{logs}"
        ) from exc


def _logs(containers: ContainerEngine, name: str) -> str:
    try:
        return log_tail(containers.logs(name, tail=20)) or "(empty)"
    except ContainerEngineError as exc:
        return f"(unavailable: {exc})"


def _discard(containers: ContainerEngine, name: str, files_root: Path) -> None:
    """Stop (SIGTERM, then the engine's kill) and remove, with its files; already gone
    is fine."""
    try:
        containers.stop(name, timeout_s=_STOP_TIMEOUT_S)
    except ContainerNotFoundError:
        _remove_files(files_root, name)
        return
    except ContainerEngineError as exc:
        _log.warning("revision.stop_failed", container=name, error=str(exc))
    with contextlib.suppress(ContainerNotFoundError):
        containers.remove(name)
    _remove_files(files_root, name)


def _sweep_files(files_root: Path, prefix: str, keep: str | None) -> None:
    """Folders of this service's revisions whose container is gone (a crash between
    writing them and starting it)."""
    if not files_root.is_dir():
        return
    for folder in files_root.iterdir():
        if folder.name.startswith(f"{prefix}-r") and folder.name != keep:
            _remove_files(files_root, folder.name)


def _discard_recorded(
    containers: ContainerEngine, name: str | None, instance: str, keep: str, files_root: Path
) -> None:
    """The container the stack's state recorded, when it is not ``keep``: removed if it is
    this Shipyard's, or was made before Shipyards had an instance id (no such label).
    That is how an upgraded Shipyard retires the revision it ran before."""
    if not name or name == keep:
        return
    try:
        found = containers.inspect(name)
    except ContainerNotFoundError:
        return
    if found.labels.get(INSTANCE, instance) == instance:
        _discard(containers, name, files_root)


def roll_out(
    containers: ContainerEngine,
    proxy: Proxy,
    spec: ServiceSpec,
    *,
    previous: int = 0,
    previous_container: str | None = None,
    health_timeout_s: float = 60.0,
) -> Rollout:
    """Make ``spec`` the one running revision of its service, with no failed request.
    ``previous_container``: the container the stack's state recorded (retired too)."""
    log = _log.bind(component=spec.component, environment=spec.environment, tag=spec.tag)
    files_root = _files_root(proxy)
    existing = containers.list_containers(
        service_labels(spec.component, spec.environment, spec.instance)
    )
    timings: dict[str, float] = {}
    started = time.monotonic()
    found = _adoptable(existing, spec.spec_hash())
    if found is None:
        number = max([previous, *(_number(c) for c in existing)]) + 1
        found = _start(containers, spec, number, files_root)
        log.info("revision.started", revision=number, container=found.name)
    else:
        log.info("revision.adopted", revision=_number(found), container=found.name)
    if not found.running:
        logs = _logs(containers, found.name)
        _discard(containers, found.name, files_root)
        raise RevisionStartError(
            f"the container of {spec.component} ({spec.environment}, image {spec.image}) "
            f"exited as soon as it started ({found.status}); traffic stays on the running "
            f"revision. Last lines of its log:\n{logs}"
        )
    revision = _revision(found, spec.port)
    timings["start"] = time.monotonic() - started
    mark = time.monotonic()
    try:
        _wait_healthy(containers, spec, revision, health_timeout_s)
    except HealthCheckTimeoutError:
        _discard(containers, revision.container, files_root)
        raise
    timings["health"] = time.monotonic() - mark
    mark = time.monotonic()
    proxy.set_route(spec.component, spec.environment, revision.upstream)
    timings["switch"] = time.monotonic() - mark
    mark = time.monotonic()
    others = [c.name for c in existing if c.name != revision.container]
    for name in others:
        _discard(containers, name, files_root)
    _discard_recorded(containers, previous_container, spec.instance, revision.container, files_root)
    prefix = _service_prefix(spec.component, spec.environment, spec.instance)
    _sweep_files(files_root, prefix, revision.container)
    timings["cleanup"] = time.monotonic() - mark
    log.info("revision.live", revision=revision.number, removed=others)
    return Rollout(revision, found.id in {c.id for c in existing}, tuple(others), timings)


def current_revision(
    containers: ContainerEngine,
    proxy: Proxy,
    component: str,
    environment: str,
    port: int,
    *,
    instance: str,
) -> Revision | None:
    """The revision serving the route (else the newest running one); None if none runs."""
    labels = service_labels(component, environment, instance)
    running = [c for c in containers.list_containers(labels) if c.running]
    if not running:
        return None
    revisions = [_revision(c, port) for c in running]
    route = proxy.route(component, environment)
    routed = [r for r in revisions if route is not None and r.upstream == route.upstream]
    return (routed or sorted(revisions, key=lambda r: r.number))[-1]


def remove_service(
    containers: ContainerEngine,
    proxy: Proxy,
    component: str,
    environment: str,
    *,
    instance: str,
    recorded_container: str | None = None,
) -> None:
    """Every revision container of this Shipyard removed, with its files; the route (if
    any) keeps its address, answering 503. ``recorded_container``: the one the stack's
    state names (removed too when it is this Shipyard's or predates instance ids)."""
    route = proxy.route(component, environment)
    if route is not None and route.upstream:
        proxy.set_route(component, environment, "", listen_port=route.listen_port)
    files_root = _files_root(proxy)
    for container in containers.list_containers(service_labels(component, environment, instance)):
        _discard(containers, container.name, files_root)
    _discard_recorded(containers, recorded_container, instance, "", files_root)
    _sweep_files(files_root, _service_prefix(component, environment, instance), None)
