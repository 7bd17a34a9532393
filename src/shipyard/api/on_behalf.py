"""Acting for a person: a service's API token plus a signed on-behalf-of assertion.

A service that signs people in on its own (Shipyard's Backstage backend plugin) calls the
API with its own Shipyard API token in ``Authorization`` and, in :data:`ON_BEHALF_HEADER`,
a short-lived JWT naming the person: ``sub`` their entity ref (``user:default/jane``),
``ent`` their ownership refs (``group:default/payments``, the person's own ref too). The
assertion is HS256, keyed with ``SHIPYARD_ON_BEHALF_SECRET`` (shared with the service and
no one else), and must carry ``iss`` = ``SHIPYARD_ON_BEHALF_ISSUER``, ``aud`` =
:data:`AUDIENCE`, ``iat`` and ``exp`` at most :data:`MAX_LIFETIME` seconds apart.

The request then acts as the person, never as more than the service: the role is the
lower of the service token's and the person's (the highest ``SHIPYARD_OIDC_ROLE_MAP``
gives any of their groups, else viewer); the teams are the person's, only those of the
service token's teams when the token is scoped to teams. The audit log names the person
(their user row, ``<iss>#<entity ref>``) and the service's token (``actor`` reads
``<person> via <service>``). A missing, expired, forged or malformed assertion is a 401
that says why, never the service's own access.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from shipyard.catalog.ownership import owner_ref
from shipyard.errors import ShipyardError
from shipyard.settings import Settings
from shipyard.store.enums import Role

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "MAX_LIFETIME",
    "MIN_SECRET_LENGTH",
    "ON_BEHALF_HEADER",
    "OnBehalfError",
    "Person",
    "capped",
    "verify_assertion",
]

ON_BEHALF_HEADER = "X-Shipyard-On-Behalf-Of"
AUDIENCE = "shipyard"
ALGORITHM = "HS256"
MAX_LIFETIME = 300
"""Seconds an assertion may live (``exp - iat``): the service signs one per request."""
MIN_SECRET_LENGTH = 32
_LEEWAY = 30
_MAX_ASSERTION_LENGTH = 16_384
_MAX_REF_LENGTH = 255
_MAX_TEAMS = 500


class OnBehalfError(ShipyardError):
    """The on-behalf-of assertion was refused (a 401); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the {ON_BEHALF_HEADER} assertion was refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Person:
    """Who an assertion names."""

    subject: str
    """``<iss>#<entity ref>``: the key of the person's user row."""
    entity_ref: str
    teams: frozenset[str]
    """Canonical ownership refs."""
    role: Role
    """What the role map gives the person's groups (before the service's cap)."""


def _secret(settings: Settings) -> bytes | None:
    """The key, when set (the settings refuse one under :data:`MIN_SECRET_LENGTH`)."""
    secret = settings.on_behalf_secret
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return None
    return secret.encode()


def verify_assertion(assertion: str, settings: Settings) -> Person:
    """The person ``assertion`` names, or :class:`OnBehalfError` (why, without the token)."""
    secret = _secret(settings)
    if secret is None:
        raise OnBehalfError(
            "this server accepts none: set SHIPYARD_ON_BEHALF_SECRET (the secret the "
            "Backstage backend plugin signs with, shipyard.onBehalfSecret)"
        )
    if len(assertion) > _MAX_ASSERTION_LENGTH or assertion.count(".") != 2:
        raise OnBehalfError("it is not a signed JWT (header.payload.signature)")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError as error:
        raise OnBehalfError("its header cannot be read") from error
    if not hmac.compare_digest(str(header.get("alg")), ALGORITHM):
        raise OnBehalfError(f"its algorithm is not {ALGORITHM}")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=settings.on_behalf_issuer,
            leeway=_LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_iat": True},
        )
    except jwt.ExpiredSignatureError as error:
        raise OnBehalfError("it has expired") from error
    except jwt.ImmatureSignatureError as error:
        raise OnBehalfError("it is not valid yet (iat or nbf in the future)") from error
    except jwt.InvalidAudienceError as error:
        raise OnBehalfError(f"its audience is not {AUDIENCE!r}") from error
    except jwt.InvalidIssuerError as error:
        raise OnBehalfError(
            f"its issuer is not {settings.on_behalf_issuer!r} (SHIPYARD_ON_BEHALF_ISSUER)"
        ) from error
    except jwt.MissingRequiredClaimError as error:
        raise OnBehalfError(f"it has no {error.claim!r} claim") from error
    except jwt.InvalidSignatureError as error:
        raise OnBehalfError(
            "its signature does not match SHIPYARD_ON_BEHALF_SECRET (a forged assertion, or "
            "the service signs with another secret)"
        ) from error
    except jwt.PyJWTError as error:
        raise OnBehalfError(f"it is malformed ({type(error).__name__})") from error
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise OnBehalfError("its 'iat' and 'exp' are not numbers")
    if expires - issued > MAX_LIFETIME:
        raise OnBehalfError(
            f"it lives {int(expires - issued)} s; an assertion may live {MAX_LIFETIME} s at most"
        )
    return _person(claims, settings)


def _person(claims: Mapping[str, Any], settings: Settings) -> Person:
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.strip() or len(sub) > _MAX_REF_LENGTH:
        raise OnBehalfError("its 'sub' is not an entity ref such as 'user:default/jane'")
    entity_ref = owner_ref(sub) if ":" in sub else f"user:default/{sub.strip()}"
    if not entity_ref.startswith("user:"):
        raise OnBehalfError(f"its 'sub' names {entity_ref[:80]!r}, not a user entity")
    ent = claims.get("ent", [])
    if not isinstance(ent, list) or not all(isinstance(ref, str) for ref in ent):
        raise OnBehalfError("its 'ent' is not a list of entity refs")
    teams = _refs(ent)
    return Person(
        subject=f"{settings.on_behalf_issuer}#{entity_ref}",
        entity_ref=entity_ref,
        teams=teams,
        role=_role(teams, settings.oidc_role_map),
    )


def _refs(values: Iterable[str]) -> frozenset[str]:
    refs: set[str] = set()
    for value in values:
        if 0 < len(value.strip()) <= _MAX_REF_LENGTH:
            refs.add(owner_ref(value))
        if len(refs) >= _MAX_TEAMS:
            break
    return frozenset(refs)


def _role(teams: frozenset[str], role_map: Mapping[str, str]) -> Role:
    role = Role.viewer
    for group, name in role_map.items():
        if owner_ref(group) in teams:
            try:
                mapped = Role(name)
            except ValueError:
                continue  # a bad map is refused where the OIDC verifier is built
            if mapped.rank > role.rank:
                role = mapped
    return role


def capped(
    person: Person, service_role: Role, service_teams: frozenset[str]
) -> tuple[Role, frozenset[str]]:
    """The role and teams a request acting for ``person`` gets through a service token:
    never more than the token's role, and within its teams when it is scoped to some."""
    role = person.role if person.role.rank <= service_role.rank else service_role
    teams = person.teams & service_teams if service_teams else person.teams
    return role, teams
