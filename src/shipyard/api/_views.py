"""Rows to response schemas: the one place ORM objects become API bodies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shipyard.api.schemas import (
    ComponentDetail,
    ComponentSummary,
    DeploymentRead,
    StackStatus,
)
from shipyard.api.schemas_history import ResourceChangeRead, StackHealthRead
from shipyard.services.history import preview_diff, stack_health
from shipyard.store import models
from shipyard.store.deployments import list_deployments
from shipyard.store.stacks import list_stacks

__all__ = ["component_detail", "component_summary", "deployment_read"]


def component_summary(component: models.Component) -> ComponentSummary:
    return ComponentSummary(
        ref=component.ref,
        namespace=component.namespace,
        name=component.name,
        owner=component.owner,
        template=component.template,
        source=component.source,
        orphaned=component.orphaned_at is not None,
        orphaned_at=component.orphaned_at,
        created_at=component.created_at,
        updated_at=component.updated_at,
    )


def deployment_read(session: Session, deployment: models.Deployment) -> DeploymentRead:
    stack = session.get_one(models.Stack, deployment.stack_id)
    component = session.get_one(models.Component, stack.component_id)
    environment = session.get_one(models.Environment, stack.environment_id)
    return DeploymentRead(
        id=deployment.id,
        component=component.ref,
        environment=environment.name,
        tag=deployment.tag,
        release=deployment.release_id,
        status=deployment.status,
        url=deployment.url,
        reason=deployment.reason,
        force=deployment.force,
        error=deployment.error,
        job=deployment.job_id,
        created_at=deployment.created_at,
        started_at=deployment.started_at,
        finished_at=deployment.finished_at,
        diff=_diff(session, deployment),
    )


def _diff(session: Session, deployment: models.Deployment) -> list[ResourceChangeRead] | None:
    changes = preview_diff(session, deployment)
    if changes is None:
        return None
    return [
        ResourceChangeRead(
            resource=change.resource,
            type=change.type,
            operation=change.operation,
            changed_inputs=list(change.changed_inputs),
            urn=change.urn,
        )
        for change in changes
    ]


def _stack_status(session: Session, stack: models.Stack) -> StackStatus:
    environment = session.get_one(models.Environment, stack.environment_id)
    current = (
        session.get_one(models.Release, stack.current_release_id)
        if stack.current_release_id is not None
        else None
    )
    last = next(iter(list_deployments(session, stack, limit=1)), None)
    return StackStatus(
        environment=environment.name,
        url=stack.url,
        current_release=current.id if current else None,
        current_tag=current.tag if current else None,
        last_deployment=deployment_read(session, last) if last else None,
        health=_health(session, stack),
    )


def _health(session: Session, stack: models.Stack) -> StackHealthRead:
    seen = stack_health(session, stack)
    return StackHealthRead(status=seen.status, checked_at=seen.checked_at, detail=seen.detail)


def component_detail(session: Session, component: models.Component) -> ComponentDetail:
    return ComponentDetail(
        **component_summary(component).model_dump(),
        descriptor=component.descriptor,
        environments=[_stack_status(session, stack) for stack in list_stacks(session, component)],
    )
