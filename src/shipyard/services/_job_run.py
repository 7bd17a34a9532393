"""What every service job handler shares: its deployment record, loaded at the start and
settled at the end, the desired state, and the target it runs on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.catalog import DesiredState
from shipyard.engine import OperationCancelledError
from shipyard.jobs import JobCancelledError, JobContext
from shipyard.services.desired import desired_state, platform_of
from shipyard.services.targets import JobTarget, open_target
from shipyard.store import create_engine, models, transaction
from shipyard.store.deployments import get_deployment, set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import append_event

__all__ = ["JobRun", "Operation", "run_job"]

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

    def session(self) -> AbstractContextManager[Session]:
        """A transaction of its own: each record commits at once (SSE readers see it)."""
        return transaction(self.database)

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


def run_job(ctx: JobContext, operation: Operation) -> dict[str, Any]:
    """Run ``operation`` for the job's deployment; any failure is recorded on the
    deployment (``failed`` or ``cancelled``) before it ends the job."""
    database = create_engine(ctx.settings)
    deployment_id = int(ctx.payload["deployment_id"])
    try:
        with structlog.contextvars.bound_contextvars(deployment_id=deployment_id):
            return _run(ctx, database, deployment_id, operation)
    finally:
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
    with transaction(database, read_only=True) as session:
        deployment = get_deployment(session, deployment_id)
        stack = session.get_one(models.Stack, deployment.stack_id)
        component = session.get_one(models.Component, stack.component_id)
        environment = session.get_one(models.Environment, stack.environment_id)
    with open_target(ctx.settings, environment.target, environment.name) as target:
        if deployment.tag is not None:
            # The tag's image lookup runs beside the records and the desired state below.
            target.prefetch_release(component.ref, deployment.tag)
        with transaction(database) as session:  # the status and its event commit together
            running = get_deployment(session, deployment_id)
            set_deployment_status(session, running, DeploymentStatus.running)
            append_event(
                session,
                ctx.job_id,
                "deployment.running",
                f"{deployment.reason} of {component.ref} to {environment.name} started",
                data={"reason": deployment.reason, "tag": deployment.tag},
            )
        desired = desired_state(component, environment.name, platform_of(ctx.settings))
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
    append_event(session, job_id, "deployment." + status.value, message, level=level, data=data)
