"""``/api/v1/tokens``: issue, list and revoke API tokens (admin only).

A token's secret is in the answer that issues it, and nowhere else: the database keeps its
sha256, the audit log its id, name, role and teams.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, status

from shipyard.api._access_views import token_created, token_read
from shipyard.api._params import Id, Limit, Offset
from shipyard.api.access import access
from shipyard.api.auth import CurrentPrincipal
from shipyard.api.dependencies import DatabaseDep
from shipyard.api.schemas import TokenCreate, TokenCreated, TokenList, TokenRead
from shipyard.catalog.ownership import owner_ref
from shipyard.clock import utc_now
from shipyard.services.errors import InvalidRequestError
from shipyard.store import transaction
from shipyard.store.audit import record_audit
from shipyard.store.auth import issue_token, list_tokens, revoke_token, token_holder
from shipyard.store.enums import Role
from shipyard.store.models import User

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the name is the admin's, or a person's"}},
    **access("token.create", Role.admin),
)
def create_token(
    body: TokenCreate, database: DatabaseDep, principal: CurrentPrincipal
) -> TokenCreated:
    """Issue a token; its ``secret`` is in this answer only. Tokens of one ``name`` act as
    one user in the audit log."""
    now = utc_now()
    if body.expires_at is not None and body.expires_at <= now:
        raise InvalidRequestError(
            f"expires_at {body.expires_at.isoformat()} is not in the future: give a later "
            "time, or leave it out for a token that does not expire"
        )
    name = body.name or f"{body.role.value}-{secrets.token_hex(3)}"
    teams = list(dict.fromkeys(owner_ref(team) for team in body.teams))
    with transaction(database) as session:
        issued = issue_token(
            session,
            token_holder(session, name),
            name,
            role=body.role,
            teams=teams,
            expires_at=body.expires_at,
            created_by=session.get_one(User, principal.user_id),
        )
        record_audit(
            session,
            "token.create",
            "token",
            issued.token.id,
            data={
                "name": name,
                "role": body.role.value,
                "teams": teams,
                "expires_at": body.expires_at.isoformat() if body.expires_at else None,
            },
        )
        return token_created(session, issued.token, issued.secret)


@router.get("", **access("token.list", Role.admin))
def get_tokens(database: DatabaseDep, limit: Limit = 50, offset: Offset = 0) -> TokenList:
    """Every token, revoked and expired ones too, oldest first; never a secret."""
    now = utc_now()
    with transaction(database, read_only=True) as session:
        rows = list_tokens(session, offset=offset, limit=limit + 1)
        items = [token_read(session, token, now=now) for token in rows[:limit]]
    more = len(rows) > limit
    return TokenList(
        items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
    )


@router.delete("/{token_id}", **access("token.revoke", Role.admin))
def delete_token(token_id: Id, database: DatabaseDep) -> TokenRead:
    """Revoke a token: from now on it is refused. Revoking it again changes nothing."""
    with transaction(database) as session:
        token = revoke_token(session, token_id)
        record_audit(session, "token.revoke", "token", token.id, data={"name": token.name})
        return token_read(session, token)
