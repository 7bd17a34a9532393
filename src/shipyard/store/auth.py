"""Users, teams and API tokens. A token's secret is shown once; only its sha256 is kept."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store._queries import page
from shipyard.store.enums import Role
from shipyard.store.errors import AlreadyExistsError, NotFoundError
from shipyard.store.models import ApiToken, Team, TeamMembership, User

__all__ = [
    "ADMIN_USER",
    "LAST_USED_RESOLUTION",
    "TOKEN_PREFIX",
    "IssuedToken",
    "add_team_member",
    "authenticate",
    "create_team",
    "create_user",
    "ensure_admin",
    "ensure_person",
    "find_live_token",
    "get_token",
    "hash_token",
    "issue_token",
    "list_tokens",
    "record_use",
    "revoke_token",
    "rotate_admin",
    "token_holder",
    "use_is_stale",
]

ADMIN_USER = "admin"
TOKEN_PREFIX = "shp_"  # noqa: S105  (a public marker that makes leaked tokens greppable)
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is rewritten at most this often, so a request needs no write."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    secret: str
    """The bearer token itself: give it to its owner now, it cannot be read back."""


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(session: Session, name: str, *, is_admin: bool = False) -> User:
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise AlreadyExistsError("user", name)
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def create_team(session: Session, name: str) -> Team:
    if session.scalars(select(Team).where(Team.name == name)).first() is not None:
        raise AlreadyExistsError("team", name)
    team = Team(name=name)
    session.add(team)
    session.flush()
    return team


def add_team_member(session: Session, team: Team, user: User, role: str = "member") -> None:
    membership = session.get(TeamMembership, (team.id, user.id))
    if membership is None:
        session.add(TeamMembership(team_id=team.id, user_id=user.id, role=role))
    else:
        membership.role = role
    session.flush()


def issue_token(
    session: Session,
    user: User,
    name: str,
    *,
    role: Role = Role.viewer,
    teams: Sequence[str] = (),
    expires_at: datetime | None = None,
    created_by: User | None = None,
) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        role=role,
        teams=list(teams),
        expires_at=expires_at,
        created_by_id=None if created_by is None else created_by.id,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def ensure_admin(session: Session) -> IssuedToken | None:
    """Create the admin user and its first token; ``None`` if the admin already exists."""
    if session.scalars(select(User).where(User.name == ADMIN_USER)).first() is not None:
        return None
    admin = create_user(session, ADMIN_USER, is_admin=True)
    return issue_token(session, admin, "admin", role=Role.admin)


def token_holder(session: Session, name: str) -> User:
    """The user a token named ``name`` is issued to: tokens of one name share one user
    (a CI job's successive tokens act as one actor). The admin's name, and a person's
    known through OIDC, are not given to tokens."""
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        return create_user(session, name)
    if user.is_admin or user.subject is not None:
        raise AlreadyExistsError("user", name)
    return user


def rotate_admin(session: Session, *, now: datetime | None = None) -> IssuedToken:
    """A new token for the admin (created if missing); the admin's previous tokens are
    revoked, so the old admin token stops working when this commits."""
    now = now or utc_now()
    admin = session.scalars(select(User).where(User.name == ADMIN_USER)).first()
    if admin is None:
        admin = create_user(session, ADMIN_USER, is_admin=True)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == admin.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return issue_token(session, admin, "admin", role=Role.admin)


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError("token", token_id)
    return token


def list_tokens(session: Session, *, offset: int = 0, limit: int = 100) -> Sequence[ApiToken]:
    """Every token (revoked and expired ones too), oldest first."""
    return page(session, select(ApiToken).order_by(ApiToken.id), offset, limit)


def find_live_token(
    session: Session, secret: str, *, now: datetime | None = None
) -> ApiToken | None:
    """The live (not revoked, not expired) token with this secret, or ``None``; no write.

    Found by the sha256 of ``secret`` through the unique index on ``token_hash``: no
    secret is ever compared, and a near miss of one is a miss of an unrelated hash."""
    now = now or utc_now()
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    return token


def use_is_stale(token: ApiToken, now: datetime) -> bool:
    """Whether ``last_used_at`` is older than :data:`LAST_USED_RESOLUTION`."""
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION


def record_use(session: Session, token_id: int, *, now: datetime | None = None) -> None:
    """Set the token's ``last_used_at`` to ``now`` unless it is that recent already."""
    now = now or utc_now()
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token with this secret (its use recorded), or ``None``."""
    now = now or utc_now()
    token = find_live_token(session, secret, now=now)
    if token is not None and use_is_stale(token, now):
        record_use(session, token.id, now=now)
    return token


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> ApiToken:
    """Revoke a token (from now on it is refused); revoking it again changes nothing."""
    token = get_token(session, token_id)
    token.revoked_at = token.revoked_at or now or utc_now()
    session.flush()
    return token


def ensure_person(session: Session, subject: str, name: str) -> User:
    """The user known by OIDC ``subject`` (``<issuer>#<sub>``), made at their first sign-in.

    Named ``name`` unless another user has that name already (then named by the subject);
    a name, once given, stays (the subject, not the name, is who the person is)."""
    query = select(User).where(User.subject == subject)
    user = session.scalars(query).first()
    if user is not None:
        return user
    taken = session.scalars(select(User.id).where(User.name == name)).first() is not None
    try:
        with session.begin_nested():
            user = User(name=subject if taken else name, subject=subject)
            session.add(user)
    except IntegrityError:  # the same person signing in twice at once: theirs won
        return session.scalars(query).one()
    return user
