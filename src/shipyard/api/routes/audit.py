"""``/api/v1/audit``: read the audit log (admin only). No route changes a record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from shipyard.api._access_views import audit_read
from shipyard.api._params import Limit, Offset
from shipyard.api.access import access
from shipyard.api.dependencies import DatabaseDep
from shipyard.api.schemas import AuditList
from shipyard.store import transaction
from shipyard.store.audit import list_audit_records
from shipyard.store.enums import Role

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


@router.get("", **access("audit.read", Role.admin))
def get_audit(
    database: DatabaseDep,
    actor: Annotated[
        str | None,
        Query(max_length=255, pattern=_PRINTABLE, description="a user's name, or anonymous"),
    ] = None,
    component: Annotated[
        str | None, Query(max_length=255, pattern=_PRINTABLE, description="namespace/name")
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z0-9_.-]+$",
            description="e.g. deployment.create; ending in '.' (token.) matches a prefix",
        ),
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="from (RFC 3339, inclusive)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="to (RFC 3339, exclusive)")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditList:
    """Audit records, newest first, one page at a time."""
    with transaction(database, read_only=True) as session:
        rows = list_audit_records(
            session,
            actor=actor,
            component=component,
            action=action,
            since=since,
            until=until,
            offset=offset,
            limit=limit + 1,
        )
        items = [audit_read(record) for record in rows[:limit]]
    more = len(rows) > limit
    return AuditList(
        items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
    )
