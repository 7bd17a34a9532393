"""A deployment's live log for the browser: the API's event stream (the same frames, the
same ``Last-Event-ID`` resumption) under the signed-in session, since a browser's
``EventSource`` cannot send a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from shipyard.api._events import SSE_HEADERS, deployment_events
from shipyard.api.dependencies import DatabaseDep, app_state
from shipyard.store import transaction
from shipyard.store.deployments import get_deployment
from shipyard.web.session import CurrentSession

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MAX_SEQ = 2**63 - 1


@router.get("/ui/deployments/{deployment_id}/events", name="deployment_events_page")
def deployment_events_for_page(
    deployment_id: Annotated[int, Path(ge=1, le=_MAX_SEQ)],
    request: Request,
    database: DatabaseDep,
    principal: CurrentSession,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=_MAX_SEQ)] = None,
    after: Annotated[int, Query(ge=0, le=_MAX_SEQ, description="the page shows up to")] = 0,
) -> StreamingResponse:
    """The events after the ones the page was rendered with (``after``), or after the
    last one received when the browser reconnects (``Last-Event-ID``), then live."""
    del principal  # signed in: any role reads a deployment's log
    with transaction(database, read_only=True) as session:
        get_deployment(session, deployment_id)
    stream = deployment_events(
        database,
        deployment_id,
        after_seq=max(last_event_id or 0, after),
        is_disconnected=request.is_disconnected,
        options=app_state(request).event_stream,
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
