"""OpenID Connect: bearer JWTs and ID tokens checked against the issuer's published keys.

One :class:`OidcVerifier` per app (:func:`verifier_from_settings`) reads the issuer's
discovery document (``<issuer>/.well-known/openid-configuration``; a Backstage backend's
``<backstage>/api/auth`` serves one too, and its ``.well-known/jwks.json`` is the fallback)
and its JWKS, keeps both, and checks each token:

- the header's ``alg`` is one of :data:`ALLOWED_ALGORITHMS` (asymmetric only: never
  ``none``, never an HMAC keyed with a public key), and matches the key's type and ``alg``;
- the key is the JWKS entry named by ``kid``; an unknown ``kid`` fetches the JWKS again,
  at most once per :attr:`OidcVerifier.refetch_interval` (the issuer rotated its keys),
  and the JWKS is read again anyway once it is :attr:`OidcVerifier.max_age` old;
- the signature (PyJWT), then ``exp``, ``nbf``, ``iat``, ``iss`` and ``aud`` with a small
  leeway; ``nonce`` for an ID token of a sign-in.

The caller becomes an :class:`OidcIdentity`: ``<iss>#<sub>``, a display name, teams (the
groups claim and a Backstage token's ``ent`` refs, as canonical ownership refs) and the
highest role ``oidc_role_map`` gives any of them (else viewer). A refused token raises
:class:`OidcTokenError`, whose reason never repeats the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from fastapi import FastAPI, Request

from shipyard.catalog.ownership import owner_ref
from shipyard.errors import ShipyardError
from shipyard.settings import Settings
from shipyard.store.enums import Role

__all__ = [
    "ALLOWED_ALGORITHMS",
    "BACKSTAGE_USER_TOKEN_TYPE",
    "OidcConfigError",
    "OidcError",
    "OidcIdentity",
    "OidcTokenError",
    "OidcUnavailableError",
    "OidcVerifier",
    "ProviderMetadata",
    "app_verifier",
    "install_verifier",
    "looks_like_jwt",
    "pkce_challenge",
    "verifier_from_settings",
]

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Asymmetric signatures only: a JWKS holds public keys, so an HMAC (HS*) or ``none`` is
never accepted, whatever the token's header says."""

BACKSTAGE_USER_TOKEN_TYPE = "vnd.backstage.user"  # noqa: S105  (a token type, no secret)
"""The ``typ`` header of a Backstage user token (its ``aud`` is ``backstage``)."""

_KEY_TYPES = {
    "RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
    "EC": {"ES256", "ES384", "ES512"},
    "OKP": {"EdDSA"},
}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_TIMEOUT = 10.0
_MAX_TOKEN_LENGTH = 16_384
_MAX_DOCUMENT_BYTES = 1_000_000
_MAX_TEAMS = 500
_MAX_CACHED_OWNERSHIP = 10_000
_MAX_REF_LENGTH = 255


class OidcError(ShipyardError):
    """OIDC sign-in could not be completed."""


class OidcConfigError(OidcError):
    """The ``SHIPYARD_OIDC_*`` settings cannot work as set."""


class OidcTokenError(OidcError):
    """A token was refused; ``reason`` says why, without the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the OIDC token was refused: {reason}")
        self.reason = reason


class OidcUnavailableError(OidcError):
    """The issuer's discovery document or keys could not be read."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What the discovery document says (only the parts Shipyard uses)."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """A caller as an OIDC token describes it."""

    subject: str
    """``<iss>#<sub>``: unique across issuers, the key of the person's user row."""
    name: str
    """For people to read: ``preferred_username``, ``email`` or ``sub``."""
    teams: frozenset[str]
    """Canonical ownership refs (``group:default/payments``)."""
    role: Role
    claims: Mapping[str, Any] = field(repr=False)


def pkce_challenge(verifier: str) -> str:
    """PKCE's ``S256`` challenge of a code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer is shaped like a compact JWS (three base64url parts)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2]) and len(token) <= _MAX_TOKEN_LENGTH


class OidcVerifier:
    """Checks tokens of one issuer; thread-safe, one per app (it caches the keys)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        client: httpx.Client | None = None,
        groups_claim: str = "groups",
        role_map: Mapping[str, str] | None = None,
        leeway: float = 30.0,
        refetch_interval: float = 30.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer.startswith(("https://", "http://")):
            raise OidcConfigError(f"SHIPYARD_OIDC_ISSUER must be an http(s) URL, not {issuer!r}")
        self.issuer = issuer
        """Exactly as tokens carry it in ``iss`` (some issuers end it with a slash)."""
        self._base = issuer.rstrip("/")
        self.audience = audience
        self.groups_claim = groups_claim
        self.role_map = _role_map(role_map or {})
        self.leeway = leeway
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        """The keys are read again after this long: a key the issuer withdrew (a leaked
        one) is not trusted for longer."""
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._ownership: dict[str, tuple[float, list[str]]] = {}

    # --- the issuer's documents ----------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The discovery document, read once (a Backstage-style ``jwks.json`` if none)."""
        with self._lock:
            if self._metadata is None:
                self._metadata = self._discover()
            return self._metadata

    def _discover(self) -> ProviderMetadata:
        url = f"{self._base}/.well-known/openid-configuration"
        response = self._get(url)
        if response.status_code == 404:
            return ProviderMetadata(self.issuer, f"{self._base}/.well-known/jwks.json")
        document = self._json(response, url)
        if document.get("issuer") != self.issuer:
            raise OidcUnavailableError(
                f"{url} names the issuer {str(document.get('issuer'))[:200]!r}, not "
                f"{self.issuer!r}: set SHIPYARD_OIDC_ISSUER to the issuer exactly"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise OidcUnavailableError(f"{url} has no jwks_uri")

        def optional(name: str) -> str | None:
            value = document.get(name)
            return value if isinstance(value, str) else None

        return ProviderMetadata(
            issuer=self.issuer,
            jwks_uri=jwks_uri,
            authorization_endpoint=optional("authorization_endpoint"),
            token_endpoint=optional("token_endpoint"),
        )

    def _http(self) -> AbstractContextManager[httpx.Client]:
        """The shared client, or (none given) one for this exchange: the issuer is asked
        rarely (discovery once, the keys when they rotate, a code at each sign-in)."""
        if self._client is not None:
            return nullcontext(self._client)
        return httpx.Client(timeout=_TIMEOUT)

    def _get(self, url: str) -> httpx.Response:
        try:
            with self._http() as client:
                response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise OidcUnavailableError(
                f"cannot read {url}: {type(error).__name__}: {error}"
            ) from error
        if response.status_code not in (200, 404):
            raise OidcUnavailableError(f"{url} answered {response.status_code}")
        return response

    def _json(self, response: httpx.Response, url: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise OidcUnavailableError(f"{url} answered {response.status_code}")
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise OidcUnavailableError(f"{url} answered more than {_MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(response.content)
        except ValueError as error:
            raise OidcUnavailableError(f"{url} did not answer JSON") from error
        if not isinstance(document, dict):
            raise OidcUnavailableError(f"{url} did not answer a JSON object")
        return document

    def _fetch_keys(self, metadata: ProviderMetadata) -> None:
        """Read the JWKS (the caller holds the lock)."""
        document = self._json(self._get(metadata.jwks_uri), metadata.jwks_uri)
        keys: dict[str, dict[str, Any]] = {}
        for jwk in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") not in _KEY_TYPES:
                continue  # symmetric ("oct") or unknown keys are never used
            if jwk.get("use", "sig") != "sig":
                continue
            keys[str(jwk.get("kid", ""))] = jwk
        self._keys = keys
        self._fetched_at = self._clock()

    def _key_for(self, kid: str) -> dict[str, Any]:
        metadata = self.metadata()
        with self._lock:
            if self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age:
                self._fetch_keys(metadata)  # first use, or keys the issuer may have dropped
            key = self._lookup(kid)
            if key is None and self._may_refetch():
                self._fetch_keys(metadata)  # the issuer may have rotated its keys
                key = self._lookup(kid)
        if key is None:
            raise OidcTokenError(
                f"its key id {kid[:64]!r} is not among the issuer's published keys"
            )
        return key

    def _lookup(self, kid: str) -> dict[str, Any] | None:
        if kid:
            return self._keys.get(kid)
        # No kid: only an issuer with a single key leaves no doubt which one signed.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or (
            self._clock() - self._fetched_at >= self.refetch_interval
        )

    def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        client_id: str,
        client_secret: str | None,
    ) -> dict[str, Any]:
        """The token endpoint's answer for an authorization code (PKCE's verifier sent;
        the client secret, if any, by HTTP Basic as ``client_secret_basic`` says)."""
        endpoint = self.metadata().token_endpoint
        if endpoint is None:
            raise OidcUnavailableError(f"the issuer {self.issuer} names no token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if client_secret:
            basic = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        else:
            form["client_id"] = client_id
        try:
            with self._http() as client:
                response = client.post(endpoint, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise OidcUnavailableError(
                f"cannot reach the token endpoint {endpoint}: {type(error).__name__}"
            ) from error
        if response.status_code != 200:
            try:
                reason = str(response.json().get("error", ""))[:64]
            except ValueError:
                reason = ""
            raise OidcTokenError(
                f"the token endpoint refused the code ({response.status_code} {reason})".strip()
            )
        return self._json(response, endpoint)

    # --- tokens --------------------------------------------------------------------------

    def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> OidcIdentity:
        """The identity ``token`` carries, or :class:`OidcTokenError`.

        ``audience`` overrides the configured one (an ID token's is the client id);
        ``nonce``, when given, must equal the token's."""
        claims = self.verified_claims(token, audience=audience)
        if nonce is not None and claims.get("nonce") != nonce:
            raise OidcTokenError("its nonce is not the one this sign-in sent")
        return self.identity(claims)

    def verified_claims(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The claims of a token whose signature and registered claims all check out."""
        if not looks_like_jwt(token):
            raise OidcTokenError("it is not a signed JWT (header.payload.signature)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise OidcTokenError("its header cannot be read") from error
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise OidcTokenError(
                f"its algorithm {str(alg)[:16]!r} is not allowed (allowed: "
                f"{', '.join(sorted(ALLOWED_ALGORITHMS))})"
            )
        kid = header.get("kid", "")
        if not isinstance(kid, str):
            raise OidcTokenError("its key id is not a string")
        jwk = self._key_for(kid)
        key = _signing_key(jwk, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience or self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise OidcTokenError("it has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise OidcTokenError("it is not valid yet (nbf or iat in the future)") from error
        except jwt.InvalidAudienceError as error:
            raise OidcTokenError(
                f"its audience is not {audience or self.audience!r} (SHIPYARD_OIDC_AUDIENCE)"
            ) from error
        except jwt.InvalidIssuerError as error:
            raise OidcTokenError(f"its issuer is not {self.issuer!r}") from error
        except jwt.MissingRequiredClaimError as error:
            raise OidcTokenError(f"it has no {error.claim!r} claim") from error
        except jwt.InvalidSignatureError as error:
            raise OidcTokenError("its signature does not match the issuer's key") from error
        except jwt.PyJWTError as error:
            raise OidcTokenError(f"it is malformed ({type(error).__name__})") from error
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > _MAX_REF_LENGTH:
            raise OidcTokenError("its 'sub' claim is not a non-empty string")
        if header.get("typ") == BACKSTAGE_USER_TOKEN_TYPE and "ent" not in claims:
            claims["ent"] = self._backstage_ownership(token, claims)
        return claims

    def _backstage_ownership(self, token: str, claims: Mapping[str, Any]) -> list[str]:
        """A Backstage user token's ownership refs when the token leaves them out (the
        default since auth-backend 0.28): ``<issuer>/v1/userinfo``, asked with the token
        itself, answers ``{"claims": {"sub", "ent"}}``. Kept until the token expires; none
        (the person has no teams) if the backend cannot say."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        with self._lock:
            cached = self._ownership.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        url = f"{self._base}/v1/userinfo"
        refs: list[str] = []
        try:
            with self._http() as client:
                response = client.get(
                    url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
                )
            info = self._json(response, url).get("claims")
        except (httpx.HTTPError, OidcUnavailableError):
            info = None
        if isinstance(info, dict) and info.get("sub") == claims["sub"]:
            ent = info.get("ent")
            refs = [ref for ref in ent if isinstance(ref, str)] if isinstance(ent, list) else []
        with self._lock:
            if len(self._ownership) >= _MAX_CACHED_OWNERSHIP:
                self._ownership = {k: v for k, v in self._ownership.items() if v[0] > now}
            if len(self._ownership) < _MAX_CACHED_OWNERSHIP:
                self._ownership[key] = (float(claims["exp"]), refs)
        return refs

    def identity(self, claims: Mapping[str, Any]) -> OidcIdentity:
        """Subject, name, teams and role from verified claims."""
        sub = str(claims["sub"])
        teams = frozenset(_refs(claims.get(self.groups_claim)) | _refs(claims.get("ent")))
        role = Role.viewer
        for team in teams:
            mapped = self.role_map.get(team)
            if mapped is not None and mapped.rank > role.rank:
                role = mapped
        return OidcIdentity(
            subject=f"{self.issuer}#{sub}",
            name=_display_name(claims, sub),
            teams=teams,
            role=role,
            claims=dict(claims),
        )


def _signing_key(jwk: Mapping[str, Any], alg: str) -> jwt.PyJWK:
    kty = str(jwk.get("kty"))
    if alg not in _KEY_TYPES.get(kty, set()):
        raise OidcTokenError(f"its algorithm {alg} does not fit the issuer's {kty} key")
    if "alg" in jwk and jwk["alg"] != alg:
        raise OidcTokenError(f"its algorithm {alg} is not its key's ({jwk['alg']})")
    if kty == "EC" and jwk.get("crv") != _EC_CURVES[alg]:
        raise OidcTokenError(f"its algorithm {alg} does not fit the key's curve")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg)
    except jwt.PyJWTError as error:
        raise OidcTokenError("the issuer's key for it cannot be read") from error


def _refs(value: object) -> set[str]:
    """Canonical ownership refs of a claim (a list of names, or one name)."""
    items: Iterable[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        return set()
    refs: set[str] = set()
    for item in items:
        if isinstance(item, str) and 0 < len(item.strip()) <= _MAX_REF_LENGTH:
            refs.add(owner_ref(item))
        if len(refs) >= _MAX_TEAMS:
            break
    return refs


def _display_name(claims: Mapping[str, Any], sub: str) -> str:
    for name in ("preferred_username", "email"):
        value = claims.get(name)
        if isinstance(value, str) and 0 < len(value) <= _MAX_REF_LENGTH:
            return value
    return sub


def _role_map(raw: Mapping[str, str]) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for group, role in raw.items():
        try:
            roles[owner_ref(group)] = Role(role)
        except ValueError as error:
            raise OidcConfigError(
                f"SHIPYARD_OIDC_ROLE_MAP maps {group!r} to {role!r}: a role is one of "
                f"{', '.join(r.value for r in Role)}"
            ) from error
    return roles


def verifier_from_settings(
    settings: Settings, client: httpx.Client | None = None
) -> OidcVerifier | None:
    """The app's verifier, or ``None`` when ``SHIPYARD_OIDC_ISSUER`` is not set."""
    if not settings.oidc_issuer:
        return None
    audience = settings.oidc_audience or settings.oidc_client_id
    if not audience:
        raise OidcConfigError(
            "SHIPYARD_OIDC_ISSUER is set but no audience is: set SHIPYARD_OIDC_AUDIENCE "
            "(the 'aud' tokens carry, 'backstage' for Backstage user tokens) or "
            "SHIPYARD_OIDC_CLIENT_ID"
        )
    return OidcVerifier(
        issuer=settings.oidc_issuer,
        audience=audience,
        client=client,
        groups_claim=settings.oidc_groups_claim,
        role_map=settings.oidc_role_map,
    )


def install_verifier(app: FastAPI, settings: Settings) -> OidcVerifier | None:
    """Build the app's one verifier (its keys cached for the app's life); a setting that
    cannot work fails here, when the app is made, not at the first sign-in."""
    verifier = verifier_from_settings(settings)
    app.state.oidc_verifier = verifier
    return verifier


def app_verifier(request: Request) -> OidcVerifier | None:
    """The verifier :func:`install_verifier` built, or ``None`` (OIDC is not set up)."""
    verifier: OidcVerifier | None = getattr(request.app.state, "oidc_verifier", None)
    return verifier
