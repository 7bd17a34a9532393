"""The audit record of a mutating request, written by the outermost middleware.

Every ``POST``/``PUT``/``PATCH``/``DELETE`` gets one record, refused ones included: who
(``anonymous`` without valid credentials), which user and token, what (the route's action,
see :mod:`shipyard.api.access`), on which component, from which address, the result and
status, the request id. A service that records its own action during the request (a
deployment's request, a token's creation) writes that record, completed from the request's
:class:`~shipyard.store.audit.AuditContext`; the middleware then adds none, unless the
request failed after it.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Scope

from shipyard.api.access import route_rule
from shipyard.store import transaction
from shipyard.store.audit import ANONYMOUS, AuditContext, record_audit

__all__ = ["MUTATING_METHODS", "audit_context_for", "result_of", "write_request_record"]

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PATH_MAX = 512

_log = structlog.get_logger("shipyard.api")


def result_of(status: int) -> str:
    """``ok``, ``unauthorized`` (401), ``forbidden`` (403), ``invalid`` (other 4xx),
    ``error`` (5xx)."""
    if status < 400:
        return "ok"
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    return "invalid" if status < 500 else "error"


def audit_context_for(scope: Scope, request_id: str) -> AuditContext:
    client = scope.get("client")
    return AuditContext(request_id=request_id, address=client[0] if client else None)


def _subject(scope: Scope, action: str | None) -> tuple[str, str | None]:
    params: dict[str, Any] = scope.get("path_params") or {}
    kind = action.split(".", 1)[0] if action else "request"
    for key in ("deployment_id", "token_id"):
        if key in params:
            return kind, str(params[key])[:64]
    if "namespace" in params and "name" in params:
        return kind, f"{params['namespace']}/{params['name']}"[:255]
    return kind, None


def _component(scope: Scope, context: AuditContext) -> str | None:
    """The component the request is about: as the access check found it, else as its path
    names it (a refused request never reached the check)."""
    if context.component is not None:
        return context.component
    params: dict[str, Any] = scope.get("path_params") or {}
    if "namespace" in params and "name" in params:
        return f"{params['namespace']}/{params['name']}"
    return None


def write_request_record(scope: Scope, context: AuditContext, status: int) -> None:
    """Write the request's record (its own transaction) unless a successful request's
    record was written already. A failure to write is logged, never raised: the answer
    to the request stands."""
    if context.recorded and status < 400:
        return
    shipyard = getattr(scope["app"].state, "shipyard", None)
    if shipyard is None:
        return  # no lifespan: nothing to write to
    rule = route_rule(scope.get("route"))
    method = str(scope["method"])
    action = str(rule["action"]) if rule else f"http.{method.lower()}"
    subject_type, subject_id = _subject(scope, action if rule else None)
    actor = context.actor if status != 401 else ANONYMOUS
    try:
        with transaction(shipyard.database) as session:
            record_audit(
                session,
                action,
                subject_type,
                subject_id,
                actor=actor,
                actor_user_id=context.user_id if status != 401 else None,
                actor_token_id=context.token_id if status != 401 else None,
                request_id=context.request_id,
                component=_component(scope, context),
                address=context.address,
                result=result_of(status),
                status_code=status,
                data={"method": method, "path": str(scope["path"])[:_PATH_MAX]},
            )
    except SQLAlchemyError:
        _log.exception("audit.write_failed", request_id=context.request_id, status=status)
