"""The target of an environment, opened for one job, behind the one interface the job
handlers use (:class:`JobTarget`): ``local`` and ``gcp``.

The handlers never see a target's own types: each target is wrapped in an adapter that
answers in :class:`Deployed` and decides, in its own terms, whether an image for a tag
already exists (:meth:`JobTarget.release_of`) and whether the recorded service still runs
(:meth:`JobTarget.is_running`, the cheap check of the "unchanged" path).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import sqlalchemy
import structlog

from shipyard.catalog import DesiredState
from shipyard.engine import (
    CancelToken,
    Engine,
    EventSink,
    OperationResult,
    Program,
    StackNotFoundError,
    StackRef,
)
from shipyard.services.errors import TargetUnavailableError
from shipyard.services.unchanged import service_is_running
from shipyard.settings import Settings
from shipyard.targets.base import OnLine, Release
from shipyard.targets.gcp.config import gcp_config
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.errors import ContainerEngineMissingError
from shipyard.targets.local.flow import LocalDeployment, LocalTarget

if TYPE_CHECKING:
    from shipyard.targets.gcp.flow import GcpDeployment, GcpTarget

__all__ = [
    "AVAILABLE_TARGETS",
    "Deployed",
    "GcpJobTarget",
    "JobTarget",
    "LocalJobTarget",
    "check_target",
    "for_jobs",
    "open_target",
]

_log = structlog.get_logger(__name__)

_T = TypeVar("_T", bound="_TargetOfJobs")

AVAILABLE_TARGETS = frozenset({"gcp", "local"})


@dataclass(frozen=True, slots=True)
class Deployed:
    """What a provision, deploy or rollback left running, whatever the target."""

    url: str | None
    release: Release | None
    """The image (with its digest) the service runs; None after a provision of nothing."""
    revision: int | None
    """The local target's revision number; None where the target has none (gcp)."""
    recovered: bool
    """The engine recovered the stack (an interrupted earlier run) before this one."""
    changes: Mapping[str, int]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """The target's own facts, kept in the stack's record beside the common ones."""


class JobTarget(Protocol):
    """What the job handlers need from a target."""

    @property
    def name(self) -> str: ...

    @property
    def engine(self) -> Engine:
        """The engine its stacks live in (preview, refresh)."""
        ...

    @property
    def builds_per_environment(self) -> bool:
        """Each environment builds its own images (gcp: its own registry and trigger), so
        a promote from another environment builds the release's tag again."""
        ...

    def program(self, desired: DesiredState, release: Release | None) -> Program: ...

    def build(self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None) -> Release:
        """Build the image of ``tag`` (gcp: run the environment's trigger and follow it)."""
        ...

    def prefetch_release(self, component: str, tag: str) -> None:
        """Start what :meth:`release_of` of ``tag`` will need (local: the image inspect),
        so it runs beside the job's first records; nothing where there is nothing to start."""
        ...

    def release_of(
        self, desired: DesiredState, tag: str, recorded: Release | None
    ) -> Release | None:
        """The image of ``tag`` this environment can run without a build, if any;
        ``recorded`` is the newest build Shipyard recorded for the tag."""
        ...

    def provision(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Deployed: ...

    def deploy(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        on_line: OnLine | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        """Run ``release`` (built for this deployment or found by :meth:`release_of`)."""
        ...

    def rollback(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        """Run a release that ran before (by its digest); builds nothing."""
        ...

    def destroy(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Mapping[str, int]:
        """Tear the stack down; the engine's changes (empty when there was no stack)."""
        ...

    def current_release(self, desired: DesiredState) -> Release | None: ...

    def is_running(self, desired: DesiredState, recorded: Mapping[str, Any]) -> bool:
        """Cheaply: does the service recorded in Shipyard (``recorded``, the stack's
        outputs) still run as recorded?"""
        ...


def _changes(result: OperationResult | None) -> dict[str, int]:
    return dict(result.changes) if result is not None else {}


class _TargetOfJobs(Protocol):
    @property
    def engine(self) -> Engine: ...

    def program(self, desired: DesiredState, release: Release | None) -> Program: ...


class _Adapter(Generic[_T]):
    """What both adapters pass straight to their target: its engine and its program."""

    def __init__(self, target: _T) -> None:
        self.target = target

    @property
    def engine(self) -> Engine:
        return self.target.engine

    def program(self, desired: DesiredState, release: Release | None) -> Program:
        return self.target.program(desired, release)


class LocalJobTarget(_Adapter[LocalTarget]):
    """The ``local`` target for the jobs."""

    name = "local"
    builds_per_environment = False

    def build(self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None) -> Release:
        return self.target.build(desired, tag, on_line=on_line)

    def prefetch_release(self, component: str, tag: str) -> None:
        self.target.prefetch_release(component, tag)

    def release_of(
        self, desired: DesiredState, tag: str, recorded: Release | None
    ) -> Release | None:
        """The image in the container engine (whatever was recorded: it may be gone)."""
        return self.target.release_of(desired, tag)

    def provision(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Deployed:
        return self._deployed(self.target.provision(desired, on_event=on_event, cancel=cancel))

    def deploy(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        on_line: OnLine | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        return self.rollback(desired, release, on_event=on_event, cancel=cancel)

    def rollback(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        deployed = self.target.run_release(desired, release, on_event=on_event, cancel=cancel)
        return self._deployed(deployed)

    def destroy(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Mapping[str, int]:
        return _changes(self.target.destroy(desired, on_event=on_event, cancel=cancel))

    def current_release(self, desired: DesiredState) -> Release | None:
        return self.target.current_release(desired)

    def is_running(self, desired: DesiredState, recorded: Mapping[str, Any]) -> bool:
        """One container inspect: the revision container runs the recorded image."""
        return service_is_running(self.target.settings, recorded, containers=self.target.containers)

    def _deployed(self, deployed: LocalDeployment) -> Deployed:
        outputs = {name: out.value for name, out in deployed.operation.outputs.items()}
        container = outputs.get("container")
        image_id = outputs.get("image_id")  # the revision container runs the spec's image
        if container and not image_id:  # a stack deployed before the program exported it
            image_id = self.target.containers.inspect(str(container)).image_id
        return Deployed(
            url=deployed.url,
            release=deployed.release,
            revision=deployed.revision,
            recovered=bool(deployed.operation.recovered),
            changes=dict(deployed.operation.changes),
            outputs={"container": container, "image_id": image_id},
        )


class GcpJobTarget(_Adapter["GcpTarget"]):
    """The ``gcp`` target for the jobs.

    An image exists for a tag when Shipyard recorded a build of it into this
    environment's Artifact Registry repository (nothing is asked of Google: images are
    immutable by digest there). The "unchanged" check compares Shipyard's record with
    the stack's outputs in the Pulumi state (no cloud call): it catches a stack changed
    or removed behind Shipyard's back, not a Cloud Run service changed in the console;
    a ``refresh`` job reads the cloud, and a forced deploy runs ``up`` regardless.
    """

    target: GcpTarget
    name = "gcp"
    builds_per_environment = True

    def build(self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None) -> Release:
        return self.target.run_trigger(desired, tag, on_line=on_line)

    def prefetch_release(self, component: str, tag: str) -> None:
        """Nothing to start: the lookup reads Shipyard's record only."""

    def release_of(
        self, desired: DesiredState, tag: str, recorded: Release | None
    ) -> Release | None:
        registry = gcp_config(desired).registry_uri
        if recorded is None or recorded.tag != tag:
            return None
        return recorded if recorded.image.startswith(registry + "/") else None

    def provision(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Deployed:
        return _gcp(self.target.provision(desired, on_event=on_event, cancel=cancel))

    def deploy(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        on_line: OnLine | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        """``up`` the digest the handler's build (the trigger) produced."""
        return self.rollback(desired, release, on_event=on_event, cancel=cancel)

    def rollback(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> Deployed:
        return _gcp(self.target.deploy_release(desired, release, on_event=on_event, cancel=cancel))

    def destroy(
        self, desired: DesiredState, *, on_event: EventSink | None, cancel: CancelToken | None
    ) -> Mapping[str, int]:
        return _changes(self.target.destroy(desired, on_event=on_event, cancel=cancel))

    def current_release(self, desired: DesiredState) -> Release | None:
        return self.target.current_release(desired)

    def is_running(self, desired: DesiredState, recorded: Mapping[str, Any]) -> bool:
        try:
            state = self.engine.outputs(StackRef.of(desired.component, desired.environment))
        except StackNotFoundError:
            return False
        keys = ("url", "image_digest", "tag")
        ok = all(
            recorded.get(key) and state.get(key) is not None and state[key].value == recorded[key]
            for key in keys
        )
        _log.info("drift.check", target="gcp", url=recorded.get("url"), running=ok)
        return ok


def _gcp(deployed: GcpDeployment) -> Deployed:
    return Deployed(
        url=deployed.url,
        release=deployed.release,
        revision=None,
        recovered=bool(deployed.operation.recovered),
        changes=dict(deployed.operation.changes),
        outputs={"trigger_id": deployed.trigger_id, "registry_uri": deployed.registry_uri},
    )


def check_target(name: str, environment: str) -> None:
    """Raise unless this Shipyard can run environment ``environment``'s target ``name``."""
    if name not in AVAILABLE_TARGETS:
        raise TargetUnavailableError(
            f"environment {environment!r} targets {name!r}, which Shipyard does not know: "
            f"set its `target` in platform.yaml to one of {sorted(AVAILABLE_TARGETS)}"
        )


@contextmanager
def open_target(
    settings: Settings, name: str, environment: str, *, database: sqlalchemy.Engine | None = None
) -> Iterator[JobTarget]:
    """The environment's target for one job. ``gcp`` connects to Cloud Build first
    (``settings.gcp_cloud_build_endpoint``, credentials from ADC): without credentials
    the job fails at once with :class:`~shipyard.targets.gcp.GcpCredentialsError`. With
    ``database``, its build follower wakes as soon as a Cloud Build notification of the
    build's end is recorded there (``POST /api/v1/hooks/cloudbuild``), instead of at its
    next poll."""
    check_target(name, environment)
    if name == "gcp":
        # Imported here: pulumi_gcp and the Cloud Build client cost ~1 s, which local jobs
        # need not pay.
        from shipyard.services.cloud_build import BuildWaiter
        from shipyard.targets.gcp.flow import GcpTarget

        waiter = BuildWaiter(database).wait if database is not None else None
        with GcpTarget.from_settings(settings, wait_for_end=waiter) as gcp:
            yield GcpJobTarget(gcp)
        return
    # The server that runs the jobs loaded the proxy's routes when it started (see
    # ServerRuntime), and every route change loads them again: no reload per job.
    with LocalTarget.from_settings(settings, sync_routes=False) as local:
        yield LocalJobTarget(local)


def for_jobs(settings: Settings) -> Settings:
    """The settings workers hand to their jobs' processes: ``settings`` naming the
    container engine detected here once, when none is set. Each job's process would
    otherwise ask ``docker info`` again (20 ms a job). When none works it stays unset,
    and a local job fails with the detection's own message."""
    if settings.container_engine:
        return settings
    try:
        found = detect_container_engine(settings)
    except ContainerEngineMissingError:
        return settings
    return settings.model_copy(update={"container_engine": str(found.binary)})
