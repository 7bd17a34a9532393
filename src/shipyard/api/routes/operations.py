"""Operations on a component's stack: provision, rollback, promote, previews, refresh,
destroy. Each answers 202 with a deployment (its ``reason`` names the operation) whose
job a worker runs; follow it like any deployment."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from shipyard.api._views import deployment_read
from shipyard.api.auth import CurrentPrincipal
from shipyard.api.dependencies import EngineDep
from shipyard.api.routes.deployments import actor_of
from shipyard.api.schemas import (
    DeploymentRead,
    EnvironmentRequest,
    PreviewRequest,
    PromoteRequest,
)
from shipyard.services import operations as service
from shipyard.store import transaction

__all__ = ["router"]

router = APIRouter(prefix="/components/{namespace}/{name}", tags=["operations"])
_ACCEPTED = status.HTTP_202_ACCEPTED


@router.post("/provision", status_code=_ACCEPTED)
def provision(
    namespace: str,
    name: str,
    body: EnvironmentRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Create the stack's registry, trigger and route (the seed's "create trigger")."""
    with transaction(engine) as session:
        deployment = service.request_provision(
            session, namespace, name, body.environment, actor_of(request, principal)
        )
        return deployment_read(session, deployment)


@router.post("/rollback", status_code=_ACCEPTED)
def rollback(
    namespace: str,
    name: str,
    body: EnvironmentRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Deploy the release that ran before the current one."""
    with transaction(engine) as session:
        deployment = service.request_rollback(
            session, namespace, name, body.environment, actor_of(request, principal)
        )
        return deployment_read(session, deployment)


@router.post("/promote", status_code=_ACCEPTED)
def promote(
    namespace: str,
    name: str,
    body: PromoteRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Deploy the image running in ``from`` to the next environment (or ``to``), with
    that environment's configuration."""
    with transaction(engine) as session:
        deployment = service.request_promote(
            session,
            namespace,
            name,
            body.source,
            body.destination,
            actor_of(request, principal),
        )
        return deployment_read(session, deployment)


@router.post("/previews", status_code=_ACCEPTED)
def preview(
    namespace: str,
    name: str,
    body: PreviewRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """The diff of deploying a tag: a ``preview.diff`` event and the job's result."""
    with transaction(engine) as session:
        deployment = service.request_preview(
            session, namespace, name, body.environment, body.tag, actor_of(request, principal)
        )
        return deployment_read(session, deployment)


@router.post("/refresh", status_code=_ACCEPTED)
def refresh(
    namespace: str,
    name: str,
    body: EnvironmentRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Read the real resources back into the stack's state."""
    with transaction(engine) as session:
        deployment = service.request_refresh(
            session, namespace, name, body.environment, actor_of(request, principal)
        )
        return deployment_read(session, deployment)


@router.post("/destroy", status_code=_ACCEPTED)
def destroy(
    namespace: str,
    name: str,
    body: EnvironmentRequest,
    request: Request,
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Tear the stack down; its records stay."""
    with transaction(engine) as session:
        deployment = service.request_destroy(
            session, namespace, name, body.environment, actor_of(request, principal)
        )
        return deployment_read(session, deployment)
