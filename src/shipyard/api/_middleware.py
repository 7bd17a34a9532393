"""The outermost request edge: request id, access log, latency metric, the audit record of
a mutating request, unexpected errors."""

from __future__ import annotations

import re
import time
import uuid

import anyio.to_thread
import structlog
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.api._audit import MUTATING_METHODS, audit_context_for, write_request_record
from shipyard.api.problems import problem_response
from shipyard.metrics import API_REQUEST_DURATION
from shipyard.store.audit import auditing

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware", "route_templates"]

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_UNMATCHED = "<unmatched>"

_log = structlog.get_logger("shipyard.api")


def _request_id(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    return given if given and _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


def route_templates(routes: list[BaseRoute]) -> dict[int, str]:
    """The full path template of each route (keyed by the ``id`` of the route object
    ``scope["route"]`` holds), included routers' prefixes included:
    ``/api/v1/components/{namespace}/{name}``."""
    return {
        id(context.original_route): context.path_format
        for context in iter_route_contexts(routes)
        if context.path_format is not None
    }


class RequestContextMiddleware:
    """Binds ``request_id`` (``X-Request-ID``, generated if absent or unusable) to the
    request's state and structlog context, echoes it, logs and times the request, writes
    the audit record of a mutating one (once its status is known, before its answer
    starts), and turns an unexpected exception into a logged 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None

    def _route_template(self, scope: Scope) -> str:
        route = scope.get("route")
        if not isinstance(route, BaseRoute):
            return _UNMATCHED
        if self._templates is None:
            self._templates = route_templates(scope["app"].routes)
        return self._templates.get(id(route), _UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = False
        audit = audit_context_for(scope, request_id)
        mutating = scope["method"] in MUTATING_METHODS

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                if mutating:
                    await anyio.to_thread.run_sync(write_request_record, scope, audit, status)
            await send(message)

        begin = time.perf_counter()
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            auditing(audit),
        ):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:  # noqa: BLE001  (the outermost request edge: log, answer 500)
                _log.exception("request.failed", method=scope["method"], path=scope["path"])
                if not started:
                    response = problem_response(
                        scope["path"],
                        500,
                        "the server failed to handle this request; its log has the details "
                        f"under request_id {request_id}",
                        request_id=request_id,
                    )
                    await response(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - begin
                route = self._route_template(scope)
                API_REQUEST_DURATION.labels(scope["method"], route, str(status)).observe(elapsed)
                _log.info(
                    "request",
                    method=scope["method"],
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
