"""Deployments: request one (202, a queued job), read it, follow its events (SSE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse

from shipyard.api._events import SSE_HEADERS, deployment_events
from shipyard.api._params import Id
from shipyard.api._views import deployment_read
from shipyard.api.access import access
from shipyard.api.auth import CurrentPrincipal, Principal
from shipyard.api.dependencies import DatabaseDep, PlatformDep, SettingsDep, app_state
from shipyard.api.schemas import MAX_ID, DeploymentRead, DeploymentRequest
from shipyard.services.deployments import Actor, cancel_deployment, deploy
from shipyard.store import transaction
from shipyard.store.deployments import get_deployment
from shipyard.store.enums import Role

__all__ = ["actor_of", "router"]

router = APIRouter(tags=["deployments"])


@router.post(
    "/components/{namespace}/{name}/deployments",
    status_code=status.HTTP_202_ACCEPTED,
    **access("deployment.create", Role.deployer, owned_by="component"),
)
def create_deployment(
    namespace: str,
    name: str,
    body: DeploymentRequest,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    platform: PlatformDep,
    principal: CurrentPrincipal,
) -> DeploymentRead:
    """Queue a deployment of a tag (or a release) to an environment; a worker runs it.

    When the same image and desired state already run (and the recorded container really
    does), the deployment is recorded ``unchanged`` at once, with no job; ``force`` skips
    that check."""
    deployment = deploy(
        database,
        settings,
        platform,
        namespace,
        name,
        environment=body.environment,
        tag=body.tag,
        release_id=body.release,
        force=body.force,
        actor=actor_of(request, principal),
    )
    with transaction(database, read_only=True) as session:
        return deployment_read(session, get_deployment(session, deployment.id))


def actor_of(request: Request, principal: Principal) -> Actor:
    """Who asked, for the record."""
    return Actor(
        user_id=principal.user_id,
        token_id=principal.token_id,
        request_id=getattr(request.state, "request_id", None),
    )


@router.post(
    "/deployments/{deployment_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    **access("deployment.cancel", Role.deployer, owned_by="deployment"),
)
def cancel(
    deployment_id: Id, request: Request, database: DatabaseDep, principal: CurrentPrincipal
) -> DeploymentRead:
    """Cancel a deployment: a queued one at once, a running one once its job has stopped
    (poll it, or follow its events). A finished one is returned as it is."""
    with transaction(database) as session:
        deployment = cancel_deployment(session, deployment_id, actor_of(request, principal))
        return deployment_read(session, deployment)


@router.get("/deployments/{deployment_id}", **access("deployment.read", Role.viewer))
def read_deployment(deployment_id: Id, database: DatabaseDep) -> DeploymentRead:
    with transaction(database, read_only=True) as session:
        return deployment_read(session, get_deployment(session, deployment_id))


@router.get(
    "/deployments/{deployment_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"}},
    **access("deployment.events", Role.viewer),
)
def stream_deployment_events(
    deployment_id: Id,
    request: Request,
    database: DatabaseDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_ID)] = None,
    follow: Annotated[bool, Query(description="false: the stored events only")] = True,
) -> StreamingResponse:
    """The deployment's events as Server-Sent Events: history, then live until it ends.

    Each event's ``id`` is its sequence number; reconnect with ``Last-Event-ID`` to get
    only the ones after it. A final ``end`` event carries the deployment's status.
    """
    with transaction(database, read_only=True) as session:
        get_deployment(session, deployment_id)
    stream = deployment_events(
        database,
        deployment_id,
        after_seq=last_event_id or 0,
        follow=follow,
        is_disconnected=request.is_disconnected,
        options=app_state(request).event_stream,
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
