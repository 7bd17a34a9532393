"""What every service job handler shares: its deployment record, loaded at the start and
settled at the end, the desired state, and the target it runs on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shipyard.catalog import DesiredState
from shipyard.engine import OperationCancelledError, warm_up_program_server
from shipyard.errors import ShipyardError
from shipyard.jobs import JobCancelledError, JobContext
from shipyard.jobs.errors import EventsNotStoredError
from shipyard.services.desired import desired_state, platform_of
from shipyard.services.targets import JobTarget, open_target
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction
from shipyard.store.builds import latest_image_build
from shipyard.store.deployments import (
    get_deployment,
    get_deployment_with_stack,
    set_deployment_status,
    start_deployment,
)
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import NewEvent, append_events
from shipyard.store.releases import find_release
from shipyard.store.subscriptions import live_subscriptions

__all__ = ["JobRun", "Operation", "prepare_job_process", "run_job"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job of a deployment record, with what its operation needs."""

    ctx: JobContext
    database: Engine
    deployment_id: int
    stack_id: int
    component_id: int
    environment_id: int
    environment: str
    tag: str | None
    release_id: int | None
    force: bool
    desired: DesiredState
    target: JobTarget

    def session(self, *, read_only: bool = False) -> AbstractContextManager[Session]:
        """A transaction of its own: each record commits at once (SSE readers see it),
        after every event emitted before it. ``read_only``: one that only reads, which
        neither takes SQLite's write lock nor wakes the job's live streams."""
        self.ctx.emit.flush()
        return transaction(self.database, read_only=read_only)

    def on_line(self, line: str) -> None:
        self.ctx.emit("build.log", line)

    def settle(
        self,
        session: Session,
        deployment: models.Deployment,
        status: DeploymentStatus,
        result: dict[str, Any],
        *,
        url: str | None = None,
    ) -> tuple[DeploymentStatus, dict[str, Any]]:
        """Record the deployment's final status and its last event in the caller's
        transaction: an SSE reader that sees the status has seen every event."""
        _record_end(session, self.ctx.job_id, deployment, status, result, url=url)
        return status, result


Operation = Callable[[JobRun], tuple[DeploymentStatus, dict[str, Any]]]
"""Runs the operation and records its result (in a transaction of its own, through
:meth:`JobRun.settle`); returns the deployment's final status and the job's result."""


def prepare_job_process(settings: Settings, database: Engine) -> None:
    """Warm a job's process before its job is known (the jobs' ``prepare_job_process``
    hook): gRPC's first server (an inline program's ``up`` serves its program over it), a
    deployment job's first read, its desired state (its platform file parsed, its
    descriptor resolved) and the reads of its image lookup and end record run once, read
    only, on the newest deployment's records, so that the job's own run warm. Cold, they
    cost 40-50 ms of CPU beside the Pulumi CLI's start (SQLAlchemy compiles each statement
    once per engine; the parsers and models build their caches on first use). Records or
    files that do not resolve (a deployment removed meanwhile, a platform without its
    environment now) leave it as warm as it got: the job reports them if they are its own."""
    warm_up_program_server()
    try:
        with transaction(database, read_only=True) as session:
            newest = session.scalar(
                select(models.Deployment.id).order_by(models.Deployment.id.desc()).limit(1)
            )
            if newest is None:
                return
            deployment, stack, component, environment = get_deployment_with_stack(session, newest)
        if settings.platform is not None:
            desired_state(component, environment.name, platform_of(settings))
        with transaction(database, read_only=True) as session:
            # The reads of a deploy's image lookup and of its end record (by key, the
            # tag's build, the release of a state), while the Pulumi CLI runs and after.
            # A session of their own: the first one's identity map would answer `get`.
            for model, key in (
                (models.Deployment, deployment.id),
                (models.Stack, stack.id),
                (models.Component, component.id),
                (models.Environment, environment.id),
            ):
                session.get(model, key)
            latest_image_build(session, component, deployment.tag or "")
            find_release(session, component, environment, "")
            # The webhooks' check beside a status write (start: a connection; end: ORM).
            live_subscriptions(session.connection())
            live_subscriptions(session)
    except ShipyardError as exc:
        _log.debug("job process warm-up stopped early", error=str(exc))


def run_job(ctx: JobContext, operation: Operation) -> dict[str, Any]:
    """Run ``operation`` for the job's deployment; any failure is recorded on the
    deployment (``failed`` or ``cancelled``) before it ends the job."""
    database = ctx.database or open_database(ctx.settings)
    deployment_id = int(ctx.payload["deployment_id"])
    try:
        with structlog.contextvars.bound_contextvars(deployment_id=deployment_id):
            return _run(ctx, database, deployment_id, operation)
    finally:
        if database is not ctx.database:
            database.dispose()


def _run(
    ctx: JobContext, database: Engine, deployment_id: int, operation: Operation
) -> dict[str, Any]:
    try:
        with _started(ctx, database, deployment_id) as run:
            status, result = operation(run)
    except Exception as exc:  # the job's outermost edge: recorded, then re-raised
        _settle_failure(ctx, database, deployment_id, exc)
        raise
    return {"deployment_id": deployment_id, "status": status.value, **result}


@contextmanager
def _started(ctx: JobContext, database: Engine, deployment_id: int) -> Iterator[JobRun]:
    """In a row: the job's records read, its target opened, its desired state resolved and
    its ``running`` record written; then the operation runs. Nothing starts before the
    job knows what it runs."""
    with transaction(database, read_only=True) as session:
        deployment, stack, component, environment = get_deployment_with_stack(
            session, deployment_id
        )
    with open_target(
        ctx.settings, environment.target, environment.name, database=database
    ) as target:
        if deployment.tag is not None:
            # The tag's image lookup (local: a container-engine inspect) runs beside the
            # desired state and the `running` record; the operation takes its answer.
            target.prefetch_release(component.ref, deployment.tag)
        desired = desired_state(component, environment.name, platform_of(ctx.settings))
        ctx.emit.flush()
        running = NewEvent(
            "deployment.running",
            f"{deployment.reason} of {component.ref} to {environment.name} started",
            data={"reason": deployment.reason, "tag": deployment.tag},
        )
        with transaction(database) as session:  # the status and its event commit together
            start_deployment(session.connection(), deployment_id)
            append_events(session.connection(), ctx.job_id, [running])
        yield JobRun(
            ctx=ctx,
            database=database,
            deployment_id=deployment_id,
            stack_id=stack.id,
            component_id=component.id,
            environment_id=environment.id,
            environment=environment.name,
            tag=deployment.tag,
            release_id=deployment.release_id,
            force=deployment.force,
            desired=desired,
            target=target,
        )


def _settle_failure(ctx: JobContext, database: Engine, deployment_id: int, exc: Exception) -> None:
    cancelled = isinstance(exc, JobCancelledError | OperationCancelledError)
    status = DeploymentStatus.cancelled if cancelled else DeploymentStatus.failed
    error = str(exc) if cancelled else f"{type(exc).__name__}: {exc}"
    _log.warning("deployment.ended", status=status.value, error=error)
    with contextlib.suppress(EventsNotStoredError):  # the end is recorded all the same
        ctx.emit.flush()
    with transaction(database) as session:
        deployment = get_deployment(session, deployment_id)
        level = "warning" if cancelled else "error"
        data = {"error": error}
        _record_end(session, ctx.job_id, deployment, status, data, error=error, level=level)


def _record_end(
    session: Session,
    job_id: int,
    deployment: models.Deployment,
    status: DeploymentStatus,
    data: dict[str, Any],
    *,
    url: str | None = None,
    error: str | None = None,
    level: str = "info",
) -> None:
    """The deployment's final status and its ``deployment.<status>`` event, together."""
    set_deployment_status(session, deployment, status, url=url, error=error)
    message = f"deployment {deployment.id} {status.value}" + (f": {error}" if error else "")
    # The events writer's plain insert (compiled already in this process), not a flush.
    ended = NewEvent("deployment." + status.value, message, level=level, data=data)
    append_events(session.connection(), job_id, [ended])
