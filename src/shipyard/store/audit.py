"""Audit records: who did what to which resource."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.store._queries import page
from shipyard.store.models import AuditRecord

__all__ = ["list_audit_records", "record_audit"]


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
) -> AuditRecord:
    record = AuditRecord(
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        actor_user_id=actor_user_id,
        actor_token_id=actor_token_id,
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
    offset: int = 0,
    limit: int = 100,
) -> Sequence[AuditRecord]:
    """Newest first, optionally of one subject."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc())
    if subject_type is not None:
        query = query.where(AuditRecord.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditRecord.subject_id == str(subject_id))
    return page(session, query, offset, limit)
