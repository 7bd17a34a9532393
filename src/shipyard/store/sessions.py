"""Web sessions: a browser's sign-in, kept as the sha256 of the random id in its cookie.

A session opened with an API token lives no longer than the token: :func:`find_live_session`
refuses it once the token is revoked or expired (checked on every request), as it refuses
a session that was ended (signed out) or has expired.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store.enums import Role
from shipyard.store.models import ApiToken, User, WebSession

__all__ = [
    "SESSION_LIFETIME",
    "LiveSession",
    "OpenedSession",
    "end_session",
    "end_session_of_cookie",
    "find_live_session",
    "hash_session_id",
    "open_session",
]

SESSION_LIFETIME = timedelta(hours=12)
"""How long a sign-in lasts at most (less when its token expires sooner)."""


@dataclass(frozen=True, slots=True)
class OpenedSession:
    session: WebSession
    cookie_value: str
    """The random id the browser keeps; only its sha256 is stored."""


@dataclass(frozen=True, slots=True)
class LiveSession:
    session: WebSession
    user: User


def hash_session_id(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def open_session(
    session: Session,
    user: User,
    *,
    role: Role,
    teams: Iterable[str],
    token: ApiToken | None = None,
    now: datetime | None = None,
    lifetime: timedelta = SESSION_LIFETIME,
) -> OpenedSession:
    """A new session for ``user`` (through ``token``, or ``None`` for an OIDC sign-in)."""
    now = now or utc_now()
    expires_at = now + lifetime
    if token is not None and token.expires_at is not None:
        expires_at = min(expires_at, token.expires_at)
    value = secrets.token_urlsafe(32)
    web_session = WebSession(
        session_hash=hash_session_id(value),
        user_id=user.id,
        token_id=None if token is None else token.id,
        role=role,
        teams=sorted(set(teams)),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(web_session)
    session.flush()
    return OpenedSession(web_session, value)


def find_live_session(
    session: Session, cookie_value: str, *, now: datetime | None = None
) -> LiveSession | None:
    """The live session whose cookie holds ``cookie_value``, or ``None``: not ended, not
    expired, and (if opened with a token) that token still live. No write."""
    now = now or utc_now()
    found = session.scalars(
        select(WebSession).where(WebSession.session_hash == hash_session_id(cookie_value))
    ).first()
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        return None
    if found.token_id is not None:
        token = session.get(ApiToken, found.token_id)
        if token is None or token.revoked_at is not None:
            return None
        if token.expires_at is not None and token.expires_at <= now:
            return None
    return LiveSession(found, session.get_one(User, found.user_id))


def end_session(session: Session, web_session_id: int, *, now: datetime | None = None) -> None:
    """Sign out: the session is refused from now on (ending it again changes nothing)."""
    found = session.get(WebSession, web_session_id)
    if found is not None and found.revoked_at is None:
        found.revoked_at = now or utc_now()
        session.flush()


def end_session_of_cookie(
    session: Session, cookie_value: str, *, now: datetime | None = None
) -> None:
    """End the session a browser's cookie names, if any (a new sign-in replaces it)."""
    found = session.scalars(
        select(WebSession.id).where(WebSession.session_hash == hash_session_id(cookie_value))
    ).first()
    if found is not None:
        end_session(session, found, now=now)
