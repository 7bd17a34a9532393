"""Deployments: applying a release to a stack, with their outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store._queries import get_or_raise, page
from shipyard.store.enums import DeploymentStatus
from shipyard.store.errors import NotFoundError
from shipyard.store.models import Component, Deployment, Environment, Release, Stack
from shipyard.store.subscriptions import record_deployment_event

__all__ = [
    "create_deployment",
    "deployment_progress",
    "get_deployment",
    "get_deployment_with_stack",
    "list_deployments",
    "previous_release",
    "set_deployment_status",
    "start_deployment",
]

_FINISHED = frozenset(
    {
        DeploymentStatus.succeeded,
        DeploymentStatus.failed,
        DeploymentStatus.cancelled,
        DeploymentStatus.unchanged,
    }
)


def create_deployment(
    session: Session,
    stack: Stack,
    *,
    tag: str | None = None,
    release: Release | None = None,
    reason: str = "deploy",
    force: bool = False,
    requested_by_id: int | None = None,
    job_id: int | None = None,
    status: DeploymentStatus = DeploymentStatus.queued,
) -> Deployment:
    deployment = Deployment(
        stack_id=stack.id,
        tag=tag if tag is not None else (release.tag if release else None),
        release_id=release.id if release else None,
        reason=reason,
        force=force,
        requested_by_id=requested_by_id,
        job_id=job_id,
        status=status,
    )
    if status in _FINISHED:
        deployment.finished_at = utc_now()
    session.add(deployment)
    session.flush()
    if status in _FINISHED:
        record_deployment_event(session, deployment.id, status)  # webhooks out (outbox)
    return deployment


def get_deployment(session: Session, deployment_id: int) -> Deployment:
    return get_or_raise(session, Deployment, deployment_id, "deployment")


def get_deployment_with_stack(
    session: Session, deployment_id: int
) -> tuple[Deployment, Stack, Component, Environment]:
    """The deployment with its stack, component and environment, in one query (a job's
    first read, on its critical path)."""
    query = (
        select(Deployment, Stack, Component, Environment)
        .join(Stack, Deployment.stack_id == Stack.id)
        .join(Component, Stack.component_id == Component.id)
        .join(Environment, Stack.environment_id == Environment.id)
        .where(Deployment.id == deployment_id)
    )
    row = session.execute(query).one_or_none()
    if row is None:
        get_deployment(session, deployment_id)  # raises the not-found error
        raise AssertionError("a deployment's stack, component and environment always exist")
    deployment, stack, component, environment = row
    return deployment, stack, component, environment


def deployment_progress(
    connection: Connection, deployment_id: int
) -> tuple[DeploymentStatus, int | None]:
    """The deployment's status and job, read on a connection (the live streams' tick)."""
    row = connection.execute(
        select(Deployment.status, Deployment.job_id).where(Deployment.id == deployment_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("deployment", deployment_id)
    status, job_id = row
    return status, job_id


def list_deployments(
    session: Session, stack: Stack, *, offset: int = 0, limit: int = 100
) -> Sequence[Deployment]:
    """Newest first."""
    query = select(Deployment).where(Deployment.stack_id == stack.id).order_by(Deployment.id.desc())
    return page(session, query, offset, limit)


def set_deployment_status(
    session: Session,
    deployment: Deployment,
    status: DeploymentStatus,
    *,
    error: str | None = None,
    url: str | None = None,
    at: datetime | None = None,
) -> Deployment:
    """Record progress; a success also makes its release the stack's current one. A
    change of status is an event for the webhook subscriptions (in this transaction)."""
    now = at or utc_now()
    previous = deployment.status
    deployment.status = status
    if status is DeploymentStatus.running:
        deployment.started_at = now
    if status in _FINISHED:
        deployment.finished_at = now
    if error is not None:
        deployment.error = error
    if url is not None:
        deployment.url = url
    if status is DeploymentStatus.succeeded:
        stack = session.get_one(Stack, deployment.stack_id)
        stack.current_release_id = deployment.release_id
        stack.url = url or stack.url
    session.flush()
    if status is not previous:
        record_deployment_event(session, deployment.id, status)
    return deployment


def start_deployment(
    connection: Connection, deployment_id: int, *, at: datetime | None = None
) -> None:
    """Record that the deployment's job runs it (``running``, ``started_at``): one plain
    statement, no object loaded, for a job's first write, made while the Pulumi CLI
    starts beside it."""
    updated = connection.execute(
        update(Deployment)
        .where(Deployment.id == deployment_id)
        .values(status=DeploymentStatus.running, started_at=at or utc_now())
    )
    if updated.rowcount != 1:
        raise NotFoundError("deployment", deployment_id)
    record_deployment_event(connection, deployment_id, DeploymentStatus.running)


def previous_release(session: Session, stack: Stack) -> Release | None:
    """The release that ran before the current one: what a rollback deploys."""
    query = (
        select(Release)
        .join(Deployment, Deployment.release_id == Release.id)
        .where(
            Deployment.stack_id == stack.id,
            Deployment.status == DeploymentStatus.succeeded,
            Release.id != stack.current_release_id,
        )
        .order_by(Deployment.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
