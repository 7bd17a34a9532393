"""Audit records: who did what to which resource, from where, and how it ended.

Records are only ever added: nothing here (and nothing in the API) updates or deletes one.

During an API request the request's :class:`AuditContext` (set by the API's outermost
middleware, see :func:`auditing`) fills in what a service's :func:`record_audit` call does
not know: who (name, user, token), from which address, on which component. The middleware
writes a record of its own for a mutating request only when no record was written for it
during the request (one record per request).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.store._queries import page
from shipyard.store.models import AuditRecord

__all__ = [
    "ANONYMOUS",
    "AuditContext",
    "auditing",
    "current_audit",
    "list_audit_records",
    "record_audit",
]

ANONYMOUS = "anonymous"
"""The actor of a request without valid credentials."""

_ACTOR_MAX = 255
_COMPONENT_MAX = 255
_ADDRESS_MAX = 64


@dataclass(slots=True)
class AuditContext:
    """What the API knows about the request being served (mutable: filled as it is)."""

    request_id: str | None = None
    address: str | None = None
    actor: str = ANONYMOUS
    user_id: int | None = None
    token_id: int | None = None
    component: str | None = None
    """``namespace/name`` when the request concerns one component."""
    success_status: int | None = None
    """The status the route answers when it succeeds (recorded with a service's record)."""
    recorded: bool = False
    """Whether a record was written during the request."""


_current: ContextVar[AuditContext | None] = ContextVar("shipyard_audit", default=None)


def current_audit() -> AuditContext | None:
    return _current.get()


@contextmanager
def auditing(context: AuditContext) -> Iterator[AuditContext]:
    """Make ``context`` the current request's for the code run inside (threads that copy
    the context, as the API's thread pool does, see the same object)."""
    reset = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(reset)


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def record_audit(
    session: Session,
    action: str,
    subject_type: str,
    subject_id: str | int | None = None,
    *,
    actor_user_id: int | None = None,
    actor_token_id: int | None = None,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
    component: str | None = None,
    address: str | None = None,
    result: str | None = None,
    status_code: int | None = None,
) -> AuditRecord:
    """Add one record (in ``session``'s transaction); what is not given comes from the
    current request's :class:`AuditContext`, if there is one."""
    context = current_audit()
    if context is not None:
        actor = actor or context.actor
        actor_user_id = actor_user_id if actor_user_id is not None else context.user_id
        actor_token_id = actor_token_id if actor_token_id is not None else context.token_id
        request_id = request_id or context.request_id
        component = component or context.component
        address = address or context.address
        if result is None:
            result, status_code = "ok", status_code or context.success_status
        context.recorded = True
    record = AuditRecord(
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        actor_user_id=actor_user_id,
        actor_token_id=actor_token_id,
        actor=_clip(actor, _ACTOR_MAX),
        component=_clip(component, _COMPONENT_MAX),
        address=_clip(address, _ADDRESS_MAX),
        result=result,
        status_code=status_code,
        request_id=request_id,
        data=data or {},
    )
    session.add(record)
    session.flush()
    return record


def list_audit_records(
    session: Session,
    *,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    actor: str | None = None,
    component: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[AuditRecord]:
    """Newest first, filtered by any of: subject, actor, component, action (exact, or a
    prefix when it ends with ``.``, e.g. ``token.``), time (``since`` inclusive,
    ``until`` exclusive)."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc())
    if subject_type is not None:
        query = query.where(AuditRecord.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditRecord.subject_id == str(subject_id))
    if actor is not None:
        query = query.where(AuditRecord.actor == actor)
    if component is not None:
        query = query.where(AuditRecord.component == component)
    if action is not None:
        if action.endswith("."):
            query = query.where(AuditRecord.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditRecord.action == action)
    if since is not None:
        query = query.where(AuditRecord.created_at >= since)
    if until is not None:
        query = query.where(AuditRecord.created_at < until)
    return page(session, query, offset, limit)
