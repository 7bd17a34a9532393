"""A real OpenID Connect provider on loopback, for tests: keys the test makes, real HTTP.

It serves what an issuer serves (discovery, JWKS, an authorization endpoint with PKCE, a
token endpoint) under a path of its choosing: ``path="/api/auth"`` lays it out as a
Backstage backend's auth plugin is (issuer ``<url>/api/auth``, keys at
``<issuer>/.well-known/jwks.json``), and :meth:`OidcProvider.backstage_token` issues
Backstage-style user tokens (``typ: vnd.backstage.user``, ``aud: backstage``, ``ent``).

A test signs tokens directly (:meth:`OidcProvider.token`), rotates the keys
(:meth:`OidcProvider.rotate`), or walks the code flow: :meth:`OidcProvider.sign_in_as`
names who the next ``/authorize`` signs in, which then redirects back with a code.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Form, Header, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shipyard.api.oidc import pkce_challenge
from shipyard.testing.server import running_server

__all__ = ["OidcProvider", "SigningKey", "serve_oidc_provider"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = None) -> SigningKey:
        private: PrivateKey
        if alg.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"the test provider makes RS*/PS* and ES256 keys, not {alg}")
        return cls(kid or secrets.token_hex(8), alg, private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class _Pending:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    claims: dict[str, Any]


class OidcProvider:
    """The provider's state; its HTTP face is :attr:`app`, served by
    :func:`serve_oidc_provider`."""

    def __init__(
        self,
        *,
        path: str = "",
        alg: str = "RS256",
        client_id: str = "shipyard-web",
        client_secret: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.path = path.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience or client_id
        """The ``aud`` of the access tokens it issues."""
        self.url = ""
        self.keys: list[SigningKey] = [SigningKey.generate(alg)]
        """Published in the JWKS; the first one signs."""
        self.jwks_requests = 0
        self.userinfo_requests = 0
        self.user_info: dict[str, list[str]] = {}
        """Backstage's user info: a user entity ref -> its ownership refs."""
        self.token_requests: list[dict[str, str]] = []
        self._next_login: dict[str, Any] | None = None
        self._codes: dict[str, _Pending] = {}
        self.app = self._build_app()

    @property
    def issuer(self) -> str:
        return f"{self.url}{self.path}"

    @property
    def active(self) -> SigningKey:
        return self.keys[0]

    # --- what a test does ----------------------------------------------------------------

    def rotate(self, *, keep_old: bool = False) -> SigningKey:
        """A new signing key (published at once); the old ones stay only if ``keep_old``."""
        key = SigningKey.generate(self.active.alg)
        self.keys = [key, *self.keys] if keep_old else [key]
        return key

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        key = key or self.active
        return jwt.encode(
            dict(claims),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )

    def claims(
        self,
        sub: str = "jane",
        *,
        audience: str | Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        expires_in: int = 300,
        **extra: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience or self.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        if groups is not None:
            claims["groups"] = list(groups)
        return {**claims, **extra}

    def token(self, sub: str = "jane", *, key: SigningKey | None = None, **claims: Any) -> str:
        """A signed access token for ``sub`` (see :meth:`claims` for the options)."""
        return self.sign(self.claims(sub, **claims), key=key)

    def backstage_token(
        self,
        user: str = "user:default/jane",
        ent: Sequence[str] | None = None,
        *,
        expires_in: int = 3600,
        omit_ent: bool = False,
    ) -> str:
        """A token shaped as a Backstage auth backend issues them; with ``omit_ent`` (as
        Backstage does by default since auth-backend 0.28) the ownership refs are left out
        of the token and served by ``/v1/userinfo`` instead."""
        claims = self.claims(user, audience="backstage", expires_in=expires_in)
        refs = list(ent if ent is not None else [user])
        self.user_info[user] = refs
        if not omit_ent:
            claims["ent"] = refs
        claims["uip"] = secrets.token_urlsafe(32)
        return self.sign(claims, headers={"typ": "vnd.backstage.user"})

    def sign_in_as(self, sub: str, **claims: Any) -> None:
        """Who the next visit to the authorization endpoint signs in (and their claims)."""
        self._next_login = {"sub": sub, **claims}

    # --- HTTP ----------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        p = self.path

        @app.get(f"{p}/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [self.active.alg],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
            }

        @app.get(f"{p}/.well-known/jwks.json")
        def jwks() -> dict[str, Any]:
            self.jwks_requests += 1
            return {"keys": [key.public_jwk() for key in self.keys]}

        @app.get(f"{p}/v1/userinfo", response_model=None)
        def userinfo(
            authorization: Annotated[str | None, Header()] = None,
        ) -> JSONResponse | dict[str, Any]:
            self.userinfo_requests += 1
            token = (authorization or "").removeprefix("Bearer ")
            try:
                kid = jwt.get_unverified_header(token).get("kid")
                key = next(k for k in self.keys if k.kid == kid)
                claims = jwt.decode(
                    token,
                    key.private.public_key(),
                    algorithms=[key.alg],
                    audience="backstage",
                    issuer=self.issuer,
                )
            except (jwt.PyJWTError, StopIteration):
                return JSONResponse({"error": "invalid token"}, status_code=401)
            refs = self.user_info.get(claims["sub"])
            if refs is None:
                return JSONResponse({"error": "User info not found"}, status_code=404)
            return {"claims": {"sub": claims["sub"], "ent": refs, "exp": claims["exp"]}}

        @app.get(f"{p}/authorize")
        def authorize(request: Request) -> RedirectResponse:
            query = request.query_params
            if query.get("response_type") != "code":
                raise HTTPException(400, "response_type must be code")
            if query.get("client_id") != self.client_id:
                raise HTTPException(400, "unknown client_id")
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                raise HTTPException(400, "PKCE with S256 is required")
            redirect_uri = query.get("redirect_uri")
            if not redirect_uri:
                raise HTTPException(400, "redirect_uri is required")
            if self._next_login is None:
                raise HTTPException(400, "nobody signs in: call sign_in_as() first")
            code = secrets.token_urlsafe(16)
            self._codes[code] = _Pending(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                nonce=query.get("nonce"),
                claims=self._next_login,
            )
            params = {"code": code, "state": query.get("state", "")}
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

        @app.post(f"{p}/token", response_model=None)
        def token(
            grant_type: Annotated[str, Form()],
            code: Annotated[str, Form()],
            redirect_uri: Annotated[str, Form()],
            code_verifier: Annotated[str, Form()] = "",
            client_id: Annotated[str | None, Form()] = None,
            client_secret: Annotated[str | None, Form()] = None,
            authorization: Annotated[str | None, Header()] = None,
        ) -> JSONResponse | dict[str, Any]:
            self.token_requests.append({"grant_type": grant_type, "code_verifier": code_verifier})
            if authorization and authorization.startswith("Basic "):
                decoded = base64.b64decode(authorization[6:]).decode()
                quoted_id, _, quoted_secret = decoded.partition(":")
                client_id, client_secret = unquote(quoted_id), unquote(quoted_secret)
            if grant_type != "authorization_code" or client_id != self.client_id:
                return _oauth_error("invalid_client")
            if self.client_secret is not None and client_secret != self.client_secret:
                return _oauth_error("invalid_client")
            pending = self._codes.pop(code, None)
            if pending is None or pending.redirect_uri != redirect_uri:
                return _oauth_error("invalid_grant")
            if pkce_challenge(code_verifier) != pending.challenge:
                return _oauth_error("invalid_grant", "PKCE verification failed")
            claims = dict(pending.claims)
            sub = claims.pop("sub")
            id_claims = self.claims(sub, audience=self.client_id, **claims)
            if pending.nonce is not None:
                id_claims["nonce"] = pending.nonce
            return {
                "access_token": self.token(sub, **claims),
                "id_token": self.sign(id_claims),
                "token_type": "Bearer",
                "expires_in": 300,
            }

        return app


def _oauth_error(error: str, description: str = "") -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


@contextmanager
def serve_oidc_provider(**options: Any) -> Iterator[OidcProvider]:
    """An :class:`OidcProvider` (``options`` as its constructor's) on a loopback port."""
    provider = OidcProvider(**options)
    with running_server(provider.app) as url:
        provider.url = url
        yield provider
