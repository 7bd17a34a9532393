"""Revisions of a local service: start the new one, wait until it answers, switch the
route, then stop and remove every other one. Reconciled by labels, so a rerun after a
crash adopts what the interrupted run left instead of starting a second copy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from shipyard.targets.local._cli_errors import log_tail
from shipyard.targets.local.engine import ContainerEngine, ContainerInfo, ContainerSpec, PortMapping
from shipyard.targets.local.errors import (
    ContainerEngineError,
    ContainerExistsError,
    ContainerNotFoundError,
    HealthCheckTimeoutError,
    LocalTargetError,
)
from shipyard.targets.local.health import wait_until_healthy
from shipyard.targets.local.labels import REVISION, SPEC, TAG, shipyard_labels
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.service_spec import ServiceSpec, container_name

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


def service_labels(component: str, environment: str) -> dict[str, str]:
    """The labels every revision container of (component, environment) carries."""
    return shipyard_labels(component, environment=environment)


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


def _container_spec(spec: ServiceSpec, number: int) -> ContainerSpec:
    host_ip = "0.0.0.0" if spec.public else "127.0.0.1"  # noqa: S104 (public: on purpose)
    labels = {
        **spec.labels,
        **service_labels(spec.component, spec.environment),
        TAG: spec.tag,
        REVISION: str(number),
        SPEC: spec.spec_hash(),
    }
    return ContainerSpec(
        name=container_name(spec.component, spec.environment, number),
        image=spec.image_id,
        ports=tuple(PortMapping(port, None, host_ip) for port in (spec.port, *spec.other_ports)),
        env=spec.env,
        command=spec.args,
        cpus=spec.cpus,
        memory=spec.memory,
        labels=labels,
    )


def _start(engine: ContainerEngine, spec: ServiceSpec, number: int) -> ContainerInfo:
    """Run revision ``number``; a container of that name left by a crash is replaced."""
    container = _container_spec(spec, number)
    try:
        return engine.run(container)
    except ContainerExistsError:
        engine.remove(container.name)
        return engine.run(container)


def _adoptable(existing: list[ContainerInfo], spec_hash: str) -> ContainerInfo | None:
    matching = [c for c in existing if c.running and c.labels.get(SPEC) == spec_hash]
    return max(matching, key=_number, default=None)


def _wait_healthy(
    engine: ContainerEngine, spec: ServiceSpec, revision: Revision, timeout_s: float
) -> None:
    url = f"http://{revision.upstream}{spec.health_path}"
    try:
        wait_until_healthy(url, timeout_s=timeout_s)
    except HealthCheckTimeoutError as exc:
        logs = _logs(engine, revision.container)
        raise HealthCheckTimeoutError(
            f"revision {revision.number} of {spec.component} ({spec.environment}, image "
            f"{spec.image}) never became healthy, so traffic stays on the running revision: "
            f"{exc}\nlast lines of the container's log:\n{logs}"
        ) from exc


def _logs(engine: ContainerEngine, name: str) -> str:
    try:
        return log_tail(engine.logs(name, tail=20)) or "(empty)"
    except ContainerEngineError as exc:
        return f"(unavailable: {exc})"


def _discard(engine: ContainerEngine, name: str) -> None:
    """Stop (SIGTERM, then the engine's kill) and remove; already gone is fine."""
    try:
        engine.stop(name, timeout_s=_STOP_TIMEOUT_S)
    except ContainerNotFoundError:
        return
    except ContainerEngineError as exc:
        _log.warning("revision.stop_failed", container=name, error=str(exc))
    try:
        engine.remove(name)
    except ContainerNotFoundError:
        return


def roll_out(
    engine: ContainerEngine,
    proxy: Proxy,
    spec: ServiceSpec,
    *,
    previous: int = 0,
    health_timeout_s: float = 60.0,
) -> Rollout:
    """Make ``spec`` the one running revision of its service, with no failed request."""
    log = _log.bind(component=spec.component, environment=spec.environment, tag=spec.tag)
    existing = engine.list_containers(service_labels(spec.component, spec.environment))
    timings: dict[str, float] = {}
    started = time.monotonic()
    found = _adoptable(existing, spec.spec_hash())
    if found is None:
        number = max([previous, *(_number(c) for c in existing)]) + 1
        found = _start(engine, spec, number)
        log.info("revision.started", revision=number, container=found.name)
    else:
        log.info("revision.adopted", revision=_number(found), container=found.name)
    if not found.running:
        logs = _logs(engine, found.name)
        _discard(engine, found.name)
        raise RevisionStartError(
            f"the container of {spec.component} ({spec.environment}, image {spec.image}) "
            f"exited as soon as it started ({found.status}); traffic stays on the running "
            f"revision. Last lines of its log:\n{logs}"
        )
    revision = _revision(found, spec.port)
    timings["start"] = time.monotonic() - started
    mark = time.monotonic()
    try:
        _wait_healthy(engine, spec, revision, health_timeout_s)
    except HealthCheckTimeoutError:
        _discard(engine, revision.container)
        raise
    timings["health"] = time.monotonic() - mark
    mark = time.monotonic()
    proxy.set_route(spec.component, spec.environment, revision.upstream)
    timings["switch"] = time.monotonic() - mark
    mark = time.monotonic()
    others = [c.name for c in existing if c.name != revision.container]
    for name in others:
        _discard(engine, name)
    timings["cleanup"] = time.monotonic() - mark
    log.info("revision.live", revision=revision.number, removed=others)
    return Rollout(revision, found.id in {c.id for c in existing}, tuple(others), timings)


def current_revision(
    engine: ContainerEngine, proxy: Proxy, component: str, environment: str, port: int
) -> Revision | None:
    """The revision serving the route (else the newest running one); None if none runs."""
    running = [
        c for c in engine.list_containers(service_labels(component, environment)) if c.running
    ]
    if not running:
        return None
    revisions = [_revision(c, port) for c in running]
    route = proxy.route(component, environment)
    routed = [r for r in revisions if route is not None and r.upstream == route.upstream]
    return (routed or sorted(revisions, key=lambda r: r.number))[-1]


def remove_service(engine: ContainerEngine, proxy: Proxy, component: str, environment: str) -> None:
    """Every revision container removed; the route (if any) keeps its address, answering 503."""
    route = proxy.route(component, environment)
    if route is not None and route.upstream:
        proxy.set_route(component, environment, "", listen_port=route.listen_port)
    for container in engine.list_containers(service_labels(component, environment)):
        _discard(engine, container.name)
