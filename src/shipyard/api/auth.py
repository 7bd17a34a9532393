"""Bearer-token authentication: who is calling, as a :class:`Principal` dependency.

Every route but ``/healthz`` depends on :func:`require_principal` (its router declares
it), so a request without a live token never reaches a handler. Roles and teams will
narrow what a principal may do through further dependencies built on this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shipyard.api.dependencies import EngineDep
from shipyard.clock import utc_now
from shipyard.store import transaction
from shipyard.store.auth import find_live_token, record_use, use_is_stale
from shipyard.store.models import User

__all__ = ["CurrentPrincipal", "Principal", "require_principal"]

_bearer = HTTPBearer(auto_error=False, description="an API token, e.g. the admin token")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shipyard"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user acting through one of its tokens."""

    user_id: int
    user_name: str
    token_id: int
    is_admin: bool


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


def require_principal(
    request: Request,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized(
            "this endpoint needs a bearer token: send 'Authorization: Bearer <token>' "
            "(the admin token is in <data-dir>/admin-token)"
        )
    now = utc_now()
    # A read: most requests write nothing, so they never queue behind a writer.
    with transaction(engine, read_only=True) as session:
        token = find_live_token(session, credentials.credentials, now=now)
        if token is None:
            raise _unauthorized("the bearer token is unknown, revoked or expired")
        user = session.get_one(User, token.user_id)
        principal = Principal(
            user_id=user.id, user_name=user.name, token_id=token.id, is_admin=user.is_admin
        )
        stale = use_is_stale(token, now)
    if stale:
        with transaction(engine) as session:
            record_use(session, token.id, now=now)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
