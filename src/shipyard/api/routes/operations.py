"""Operations on a component's stack: provision, rollback, promote, previews, refresh,
destroy. Each answers 202 with a deployment (its ``reason`` names the operation) whose
job a worker runs; follow it like any deployment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.api._views import deployment_read
from shipyard.api.access import access
from shipyard.api.auth import CurrentPrincipal
from shipyard.api.dependencies import DatabaseDep
from shipyard.api.routes.deployments import actor_of
from shipyard.api.schemas import (
    DeploymentRead,
    EnvironmentRequest,
    PreviewRequest,
    PromoteRequest,
)
from shipyard.services import operations as service
from shipyard.services.deployments import Actor
from shipyard.store import models, transaction
from shipyard.store.enums import Role

__all__ = ["router"]

router = APIRouter(prefix="/components/{namespace}/{name}", tags=["operations"])
_ACCEPTED = status.HTTP_202_ACCEPTED


@dataclass(frozen=True, slots=True)
class _Requester:
    """Who asks, and where the request is recorded."""

    database: Engine
    actor: Actor

    def __call__(self, operation: Callable[[Session, Actor], models.Deployment]) -> DeploymentRead:
        """Request ``operation`` in one transaction; the deployment that records it."""
        with transaction(self.database) as session:
            return deployment_read(session, operation(session, self.actor))


def _requester(request: Request, database: DatabaseDep, principal: CurrentPrincipal) -> _Requester:
    return _Requester(database, actor_of(request, principal))


Requester = Annotated[_Requester, Depends(_requester)]


def _deployer(action: str) -> dict[str, Any]:
    """A deployer may do it to the components its teams own."""
    return access(action, Role.deployer, owned_by="component")


@router.post("/provision", status_code=_ACCEPTED, **_deployer("stack.provision"))
def provision(
    namespace: str, name: str, body: EnvironmentRequest, requester: Requester
) -> DeploymentRead:
    """Create the stack's registry, trigger and route (the seed's "create trigger")."""
    return requester(
        lambda session, actor: service.request_provision(
            session, namespace, name, body.environment, actor
        )
    )


@router.post("/rollback", status_code=_ACCEPTED, **_deployer("stack.rollback"))
def rollback(
    namespace: str, name: str, body: EnvironmentRequest, requester: Requester
) -> DeploymentRead:
    """Deploy the release that ran before the current one."""
    return requester(
        lambda session, actor: service.request_rollback(
            session, namespace, name, body.environment, actor
        )
    )


@router.post("/promote", status_code=_ACCEPTED, **_deployer("stack.promote"))
def promote(
    namespace: str, name: str, body: PromoteRequest, requester: Requester
) -> DeploymentRead:
    """Deploy the image running in ``from`` to the next environment (or ``to``), with
    that environment's configuration."""
    return requester(
        lambda session, actor: service.request_promote(
            session, namespace, name, body.source, body.destination, actor
        )
    )


@router.post("/previews", status_code=_ACCEPTED, **_deployer("stack.preview"))
def preview(
    namespace: str, name: str, body: PreviewRequest, requester: Requester
) -> DeploymentRead:
    """The diff of deploying a tag: a ``preview.diff`` event and the job's result."""
    return requester(
        lambda session, actor: service.request_preview(
            session, namespace, name, body.environment, body.tag, actor
        )
    )


@router.post("/refresh", status_code=_ACCEPTED, **_deployer("stack.refresh"))
def refresh(
    namespace: str, name: str, body: EnvironmentRequest, requester: Requester
) -> DeploymentRead:
    """Read the real resources back into the stack's state."""
    return requester(
        lambda session, actor: service.request_refresh(
            session, namespace, name, body.environment, actor
        )
    )


@router.post("/destroy", status_code=_ACCEPTED, **access("stack.destroy", Role.admin))
def destroy(
    namespace: str, name: str, body: EnvironmentRequest, requester: Requester
) -> DeploymentRead:
    """Tear the stack down; its records stay."""
    return requester(
        lambda session, actor: service.request_destroy(
            session, namespace, name, body.environment, actor
        )
    )
