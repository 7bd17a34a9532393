"""Authentication: who is calling, as a :class:`Principal` dependency.

Every route but ``/healthz`` depends on :func:`require_principal` (its router declares
it), so a request without valid credentials never reaches a handler. What a principal
may then do is decided in one place, :mod:`shipyard.api.access`.

Credentials: a bearer that is a Shipyard API token (``shp_...``), looked up by the sha256
of the presented secret; or, when ``SHIPYARD_OIDC_ISSUER`` is set, a JWT of that issuer (an
OIDC access token, a Backstage user token), checked by :mod:`shipyard.api.oidc`.
:func:`_principal_from_bearer` tells them apart. An API token sending an on-behalf-of
assertion acts for the person it names, within the token's own role and teams
(:mod:`shipyard.api.on_behalf`). The Web UI's cookie session is
:mod:`shipyard.web.session`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select

from shipyard.api.dependencies import DatabaseDep, SettingsDep
from shipyard.api.oidc import OidcError, OidcTokenError, OidcVerifier, app_verifier, looks_like_jwt
from shipyard.api.on_behalf import ON_BEHALF_HEADER, OnBehalfError, capped, verify_assertion
from shipyard.catalog.ownership import owner_ref
from shipyard.clock import utc_now
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.audit import current_audit
from shipyard.store.auth import ensure_person, find_live_token, record_use, use_is_stale
from shipyard.store.enums import Role
from shipyard.store.models import User

__all__ = [
    "CurrentPrincipal",
    "Principal",
    "bind_principal",
    "require_principal",
    "unauthorized",
]

_bearer = HTTPBearer(auto_error=False, description="an API token, e.g. the admin token")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shipyard"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller and what it may act as.

    ``teams`` are canonical ownership refs (``group:default/payments``, see
    :func:`shipyard.catalog.ownership.owner_ref`); ``method`` says how the caller proved
    who it is: ``token`` (a Shipyard API token), ``oidc`` (a JWT bearer), ``on-behalf``
    (a person through a service's token and assertion) or ``session``
    (the Web UI's cookie).
    """

    user_id: int
    user_name: str
    token_id: int | None
    role: Role
    teams: frozenset[str] = field(default_factory=frozenset)
    method: str = "token"
    subject: str | None = None
    """``<issuer>#<sub>`` for a person known through OIDC or an on-behalf-of assertion;
    ``None`` for a token."""
    via: str | None = None
    """The service (its token's user) a person acts through (``method`` ``on-behalf``)."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def actor(self) -> str:
        """Who, as the audit log shows it: the OIDC subject, else the user's name; and
        ``via <service>`` for a person acting through a service."""
        who = self.subject or self.user_name
        return f"{who} via {self.via}" if self.via else who


def unauthorized(detail: str) -> HTTPException:
    """A 401 with the bearer challenge (RFC 6750)."""
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


def _principal_from_token(database: Engine, secret: str) -> Principal | None:
    """The principal of a live Shipyard API token, or ``None``.

    The lookup is by the sha256 of ``secret`` through a unique index: a near miss of the
    secret is a miss of an unrelated hash, so its timing tells nothing about the secret.
    """
    now = utc_now()
    # A read: most requests write nothing, so they never queue behind a writer.
    with transaction(database, read_only=True) as session:
        token = find_live_token(session, secret, now=now)
        if token is None:
            return None
        user = session.get_one(User, token.user_id)
        principal = Principal(
            user_id=user.id,
            user_name=user.name,
            token_id=token.id,
            role=token.role,
            teams=frozenset(owner_ref(team) for team in token.teams),
            method="token",
        )
        stale = use_is_stale(token, now)
    if stale:
        with transaction(database) as session:
            record_use(session, token.id, now=now)
    return principal


def _principal_from_bearer(request: Request, database: Engine, bearer: str) -> Principal | None:
    """The principal a bearer credential proves, or ``None`` if it proves none.

    When OIDC is set up, a bearer shaped as a JWT (OIDC, Backstage user tokens) is
    validated against the issuer's keys (:mod:`shipyard.api.oidc`); any other is looked up
    as an API token.
    """
    verifier = app_verifier(request)
    if verifier is not None and looks_like_jwt(bearer):
        return _principal_from_jwt(database, verifier, bearer)
    return _principal_from_token(database, bearer)


def _principal_from_jwt(database: Engine, verifier: OidcVerifier, bearer: str) -> Principal:
    """The person an OIDC (or Backstage) JWT names, with the role and teams of its groups;
    their user row is made the first time they are seen."""
    try:
        identity = verifier.verify(bearer)
    except OidcTokenError as error:
        raise unauthorized(str(error)) from error
    except OidcError as error:  # the issuer cannot be read: not the caller's fault
        raise HTTPException(503, f"the bearer JWT cannot be checked now: {error}") from error
    with transaction(database, read_only=True) as session:
        user = session.scalars(select(User).where(User.subject == identity.subject)).first()
        known = None if user is None else (user.id, user.name)
    if known is None:
        with transaction(database) as session:
            user = ensure_person(session, identity.subject, identity.name)
            known = (user.id, user.name)
    return Principal(
        user_id=known[0],
        user_name=known[1],
        token_id=None,
        role=identity.role,
        teams=identity.teams,
        method="oidc",
        subject=identity.subject,
    )


def _acting_for(
    database: Engine, settings: Settings, service: Principal, assertion: str | None
) -> Principal:
    """The person an on-behalf-of assertion names, acting through ``service``'s token."""
    if service.method != "token" or service.user_name not in settings.on_behalf_services:
        raise unauthorized(
            f"only the API tokens of a service SHIPYARD_ON_BEHALF_SERVICES lists may send "
            f"{ON_BEHALF_HEADER}; this bearer is not one"
        )
    if assertion is None:
        raise unauthorized(
            f"this token is the service {service.user_name!r}'s (SHIPYARD_ON_BEHALF_SERVICES): "
            f"it acts only for a person, named by a {ON_BEHALF_HEADER} assertion"
        )
    try:
        person = verify_assertion(assertion, settings)
    except OnBehalfError as error:
        raise unauthorized(str(error)) from error
    name = person.entity_ref.removeprefix("user:").removeprefix("default/")
    with transaction(database) as session:
        user_id = ensure_person(session, person.subject, name).id
    role, teams = capped(person, service.role, service.teams)
    return Principal(
        user_id=user_id,
        user_name=name,
        token_id=service.token_id,
        role=role,
        teams=teams,
        method="on-behalf",
        subject=person.subject,
        via=service.user_name,
    )


def bind_principal(request: Request, principal: Principal) -> Principal:
    """Record ``principal`` as the request's caller: on ``request.state`` (the access
    checks, the audit middleware) and in the audit context (records written by services
    during this request name it)."""
    request.state.principal = principal
    context = current_audit()
    if context is not None:
        context.actor = principal.actor
        context.user_id = principal.user_id
        context.token_id = principal.token_id
    return principal


def require_principal(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The single entry of authentication: every protected route depends on it."""
    if credentials is None:
        raise unauthorized(
            "this endpoint needs a bearer token: send 'Authorization: Bearer <token>' "
            "(the admin token is in <data-dir>/admin-token)"
        )
    principal = _principal_from_bearer(request, database, credentials.credentials)
    if principal is None:
        raise unauthorized("the bearer token is unknown, revoked or expired")
    assertion = request.headers.get(ON_BEHALF_HEADER)
    service = principal.method == "token" and principal.user_name in settings.on_behalf_services
    if assertion is not None or service:
        principal = _acting_for(database, settings, principal, assertion)
    return bind_principal(request, principal)


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
