"""Tokens and audit records to response schemas (never a token's hash, nor its secret
except once, when it is issued)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shipyard.api.schemas import AuditRead, TokenCreated, TokenRead
from shipyard.clock import utc_now
from shipyard.store import models

__all__ = ["audit_read", "token_created", "token_read"]


def token_read(
    session: Session, token: models.ApiToken, *, now: datetime | None = None
) -> TokenRead:
    now = now or utc_now()
    user = session.get_one(models.User, token.user_id)
    creator = (
        session.get_one(models.User, token.created_by_id)
        if token.created_by_id is not None
        else None
    )
    expired = token.expires_at is not None and token.expires_at <= now
    return TokenRead(
        id=token.id,
        name=token.name,
        user=user.name,
        role=token.role,
        teams=list(token.teams),
        created_at=token.created_at,
        created_by=creator.name if creator is not None else None,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        live=token.revoked_at is None and not expired,
    )


def token_created(session: Session, token: models.ApiToken, secret: str) -> TokenCreated:
    return TokenCreated(**token_read(session, token).model_dump(), secret=secret)


def audit_read(record: models.AuditRecord) -> AuditRead:
    return AuditRead(
        id=record.id,
        created_at=record.created_at,
        actor=record.actor,
        user_id=record.actor_user_id,
        token_id=record.actor_token_id,
        action=record.action,
        subject_type=record.subject_type,
        subject_id=record.subject_id,
        component=record.component,
        address=record.address,
        result=record.result,
        status_code=record.status_code,
        request_id=record.request_id,
        data=dict(record.data),
    )
