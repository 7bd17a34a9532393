"""Bearer JWTs checked against a real OpenID provider on loopback, with keys the test makes.

Nothing of Shipyard's validation is replaced: the verifier reads the provider's discovery
document and JWKS over HTTP and checks what the provider (or an attacker) signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from shipyard.api.oidc import (
    OidcConfigError,
    OidcTokenError,
    OidcUnavailableError,
    OidcVerifier,
    looks_like_jwt,
    verifier_from_settings,
)
from shipyard.settings import Settings
from shipyard.store.enums import Role
from shipyard.testing.oidc import OidcProvider, SigningKey, serve_oidc_provider

AUDIENCE = "shipyard"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider(audience=AUDIENCE) as provider:
        yield provider


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def make_verifier(provider: OidcProvider, client: httpx.Client, **options: Any) -> OidcVerifier:
    options = {
        "issuer": provider.issuer,
        "audience": AUDIENCE,
        "client": client,
        "role_map": {"platform": "admin", "group:default/payments": "deployer"},
        **options,
    }
    return OidcVerifier(**options)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A token built by hand, as an attacker would (libraries refuse to make these)."""
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = b"" if sign is None else sign(head.encode())
    return f"{head}.{_b64(signature)}"


def refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(OidcTokenError) as caught:
        verifier.verify(token)
    assert token not in str(caught.value)
    return caught.value.reason


def test_a_valid_token_gives_its_subject_groups_as_teams_and_the_mapped_role(
    provider: OidcProvider, client: httpx.Client
) -> None:
    verifier = make_verifier(provider, client)
    token = provider.token(
        "u-123", groups=["payments", "group:default/Search"], preferred_username="jane"
    )

    identity = verifier.verify(token)

    assert identity.subject == f"{provider.issuer}#u-123"
    assert identity.name == "jane"
    assert identity.teams == {"group:default/payments", "group:default/search"}
    assert identity.role is Role.deployer


def test_the_highest_mapped_role_wins_and_unmapped_groups_are_viewers(
    provider: OidcProvider, client: httpx.Client
) -> None:
    verifier = make_verifier(provider, client)
    assert verifier.verify(provider.token(groups=["payments", "platform"])).role is Role.admin
    assert verifier.verify(provider.token(groups=["elsewhere"])).role is Role.viewer
    assert verifier.verify(provider.token()).teams == frozenset()


def test_a_custom_groups_claim_is_read(provider: OidcProvider, client: httpx.Client) -> None:
    verifier = make_verifier(provider, client, groups_claim="roles")
    identity = verifier.verify(provider.token(roles=["payments"], groups=["ignored"]))
    assert identity.teams == {"group:default/payments"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"expires_in": -120}, "expired"),
        ({"audience": "someone-else"}, "audience"),
        ({"iss": "http://127.0.0.1:1/other"}, "issuer"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "not-yet-valid"],
)
def test_tokens_with_bad_claims_are_refused(
    provider: OidcProvider, client: httpx.Client, claims: dict[str, Any], reason: str
) -> None:
    assert reason in refused(make_verifier(provider, client), provider.token(**claims))


def test_a_token_expired_within_the_leeway_is_accepted(
    provider: OidcProvider, client: httpx.Client
) -> None:
    verifier = make_verifier(provider, client, leeway=30)
    assert verifier.verify(provider.token(expires_in=-5)).subject.endswith("#jane")


def test_a_token_signed_by_another_key_with_the_published_kid_is_refused(
    provider: OidcProvider, client: httpx.Client
) -> None:
    impostor = SigningKey.generate("RS256", kid=provider.active.kid)
    reason = refused(make_verifier(provider, client), provider.token(key=impostor))
    assert "signature" in reason


def test_alg_none_is_refused(provider: OidcProvider, client: httpx.Client) -> None:
    token = forged({"alg": "none", "kid": provider.active.kid}, provider.claims())
    assert "algorithm 'none' is not allowed" in refused(make_verifier(provider, client), token)


def test_hs256_keyed_with_the_public_key_is_refused(
    provider: OidcProvider, client: httpx.Client
) -> None:
    pem = provider.active.public_pem()
    token = forged(
        {"alg": "HS256", "kid": provider.active.kid},
        provider.claims(),
        sign=lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )
    assert "algorithm 'HS256' is not allowed" in refused(make_verifier(provider, client), token)


def test_an_algorithm_other_than_the_keys_is_refused(
    provider: OidcProvider, client: httpx.Client
) -> None:
    token = forged({"alg": "ES256", "kid": provider.active.kid}, provider.claims(), sign=None)
    assert "RSA" in refused(make_verifier(provider, client), token)


def test_an_unknown_kid_is_refused_without_fetching_the_keys_again_at_once(
    provider: OidcProvider, client: httpx.Client
) -> None:
    verifier = make_verifier(provider, client, refetch_interval=3600)
    verifier.verify(provider.token())
    before = provider.jwks_requests
    stranger = SigningKey.generate("RS256")
    for _ in range(3):
        assert "not among the issuer's published keys" in refused(
            verifier, provider.token(key=stranger)
        )
    assert provider.jwks_requests == before


def test_garbage_is_refused_with_a_reason(provider: OidcProvider, client: httpx.Client) -> None:
    verifier = make_verifier(provider, client)
    assert "not a signed JWT" in refused(verifier, "shp_not-a-jwt")
    assert "header cannot be read" in refused(verifier, "a.b.c")
    assert not looks_like_jwt("shp_abc")
    assert looks_like_jwt(provider.token())


def test_a_token_without_sub_is_refused(provider: OidcProvider, client: httpx.Client) -> None:
    claims = provider.claims()
    del claims["sub"]
    assert "'sub'" in refused(make_verifier(provider, client), provider.sign(claims))


def test_the_nonce_of_an_id_token_is_checked(provider: OidcProvider, client: httpx.Client) -> None:
    verifier = make_verifier(provider, client)
    token = provider.token(nonce="n-1")
    assert verifier.verify(token, nonce="n-1").subject.endswith("#jane")
    with pytest.raises(OidcTokenError, match="nonce"):
        verifier.verify(token, nonce="n-2")


def test_key_rotation_a_new_kid_is_accepted_after_one_refetch() -> None:
    with (
        serve_oidc_provider(audience=AUDIENCE) as provider,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        verifier = make_verifier(provider, client, refetch_interval=0)
        verifier.verify(provider.token())
        assert provider.jwks_requests == 1

        old = provider.active
        provider.rotate()
        assert verifier.verify(provider.token()).subject.endswith("#jane")
        assert provider.jwks_requests == 2
        assert verifier.verify(provider.token()).subject.endswith("#jane")
        assert provider.jwks_requests == 2  # the new key is cached now

        # The old key is no longer published: its tokens are refused.
        assert "not among" in refused(verifier, provider.token(key=old))


def test_refetching_is_rate_limited() -> None:
    now = [0.0]
    with (
        serve_oidc_provider(audience=AUDIENCE) as provider,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        verifier = make_verifier(provider, client, refetch_interval=30, clock=lambda: now[0])
        verifier.verify(provider.token())
        provider.rotate()
        now[0] = 10.0
        assert "not among" in refused(verifier, provider.token())
        assert provider.jwks_requests == 1
        now[0] = 31.0
        assert verifier.verify(provider.token()).subject.endswith("#jane")
        assert provider.jwks_requests == 2


def test_a_key_the_issuer_withdraws_is_dropped_once_the_keys_are_an_hour_old() -> None:
    now = [0.0]
    with (
        serve_oidc_provider(audience=AUDIENCE) as provider,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        verifier = make_verifier(provider, client, max_age=3600, clock=lambda: now[0])
        leaked = provider.active
        verifier.verify(provider.token())
        provider.rotate()  # the old key is withdrawn
        now[0] = 1800.0
        assert verifier.verify(provider.token(key=leaked)).subject.endswith("#jane")
        now[0] = 3600.0
        assert "not among" in refused(verifier, provider.token(key=leaked))
        assert verifier.verify(provider.token()).subject.endswith("#jane")
        assert provider.jwks_requests == 2


def test_backstage_user_tokens_are_accepted_with_their_ownership_refs() -> None:
    with (
        serve_oidc_provider(path="/api/auth", alg="ES256") as backstage,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        verifier = OidcVerifier(
            issuer=backstage.issuer,
            audience="backstage",
            client=client,
            role_map={"group:default/payments": "deployer"},
        )
        token = backstage.backstage_token(
            "user:default/jane", ["user:default/jane", "group:default/payments"]
        )
        identity = verifier.verify(token)

        assert backstage.issuer.endswith("/api/auth")
        assert identity.subject == f"{backstage.issuer}#user:default/jane"
        assert identity.name == "user:default/jane"
        assert identity.teams == {"user:default/jane", "group:default/payments"}
        assert identity.role is Role.deployer
        # A Backstage token meant for Backstage is not one for another audience.
        other = OidcVerifier(issuer=backstage.issuer, audience="shipyard", client=client)
        assert "audience" in refused(other, token)


def test_a_backstage_token_without_ent_gets_its_refs_from_the_backends_userinfo() -> None:
    with (
        serve_oidc_provider(path="/api/auth", alg="ES256") as backstage,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        verifier = OidcVerifier(
            issuer=backstage.issuer,
            audience="backstage",
            client=client,
            role_map={"group:default/payments": "deployer"},
        )
        token = backstage.backstage_token(
            "user:default/jane", ["group:default/payments"], omit_ent=True
        )
        assert "ent" not in jwt.decode(token, options={"verify_signature": False})

        identity = verifier.verify(token)
        assert identity.teams == {"group:default/payments"}
        assert identity.role is Role.deployer
        verifier.verify(token)
        assert backstage.userinfo_requests == 1  # kept until the token expires

        # A backend that knows nothing of the person: no teams, a viewer.
        stranger = backstage.backstage_token("user:default/sam", omit_ent=True)
        del backstage.user_info["user:default/sam"]
        identity = verifier.verify(stranger)
        assert (identity.teams, identity.role) == (frozenset(), Role.viewer)


def test_a_backstage_backend_without_a_discovery_document_falls_back_to_its_jwks() -> None:
    with (
        serve_oidc_provider(path="/api/auth", alg="ES256") as backstage,
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        backstage.app.router.routes = [
            route
            for route in backstage.app.router.routes
            if "openid-configuration" not in getattr(route, "path", "")
        ]
        verifier = OidcVerifier(issuer=backstage.issuer, audience="backstage", client=client)
        assert verifier.metadata().jwks_uri == f"{backstage.issuer}/.well-known/jwks.json"
        assert verifier.verify(backstage.backstage_token()).name == "user:default/jane"


def test_an_unreachable_issuer_says_so(client: httpx.Client) -> None:
    verifier = OidcVerifier(issuer="http://127.0.0.1:9/none", audience="x", client=client)
    with pytest.raises(
        OidcUnavailableError, match=re.escape("cannot read http://127.0.0.1:9/none")
    ):
        verifier.verify(forged({"alg": "RS256", "kid": "k"}, {"sub": "x"}, sign=lambda d: b"sig"))


def test_a_discovery_document_naming_another_issuer_is_refused(
    provider: OidcProvider, client: httpx.Client
) -> None:
    verifier = OidcVerifier(issuer=provider.issuer + "/", audience=AUDIENCE, client=client)
    with pytest.raises(OidcUnavailableError, match="set SHIPYARD_OIDC_ISSUER to the issuer"):
        verifier.metadata()


def test_settings_need_an_audience_and_valid_roles(tmp_path: Any, client: httpx.Client) -> None:
    assert verifier_from_settings(Settings(data_dir=tmp_path), client) is None
    with pytest.raises(OidcConfigError, match="SHIPYARD_OIDC_AUDIENCE"):
        verifier_from_settings(Settings(data_dir=tmp_path, oidc_issuer="https://idp"), client)
    with pytest.raises(OidcConfigError, match="maps 'ops' to 'root'"):
        verifier_from_settings(
            Settings(
                data_dir=tmp_path,
                oidc_issuer="https://idp",
                oidc_client_id="web",
                oidc_role_map={"ops": "root"},
            ),
            client,
        )
    built = verifier_from_settings(
        Settings(data_dir=tmp_path, oidc_issuer="https://idp", oidc_client_id="web"), client
    )
    assert built is not None and built.audience == "web"
