"""Signing in through a real OpenID provider on loopback: the code flow with PKCE, end to
end over HTTP (the browser's redirects followed by hand)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from shipyard.api.oidc import pkce_challenge
from shipyard.store import transaction
from shipyard.store.models import AuditRecord, User, WebSession
from shipyard.testing.api import Api
from shipyard.testing.oidc import OidcProvider, serve_oidc_provider
from shipyard.testing.web import browser, page_csrf, set_cookie

ServeWeb = Callable[..., AbstractContextManager[Api]]
CLIENT_ID = "shipyard-web"
CLIENT_SECRET = "s3cret-of-the-web-client"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture
def oidc_web(serve_web: ServeWeb, provider: OidcProvider) -> Iterator[Api]:
    with serve_web(
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_role_map={"platform": "admin", "payments": "deployer"},
    ) as api:
        yield api


def start(client: httpx.Client) -> tuple[httpx.Response, dict[str, str]]:
    """``GET /login/oidc``: the redirect to the issuer, and its query."""
    response = client.get("/login/oidc")
    assert response.status_code == 302, response.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    return response, query


def authorize(location: str) -> str:
    """The browser at the issuer: it signs in and is sent back; returns the callback URL."""
    with httpx.Client(timeout=30, trust_env=False) as idp:
        answer = idp.get(location)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_the_code_flow_with_pkce_opens_a_session_with_the_providers_groups(
    oidc_web: Api, provider: OidcProvider
) -> None:
    provider.sign_in_as("u-42", preferred_username="jane", groups=["payments", "search"])
    with browser(oidc_web) as client:
        login = client.get("/login")
        assert "Sign in with your identity provider" in login.text

        response, query = start(client)
        assert response.headers["location"].startswith(f"{provider.issuer}/authorize?")
        assert query["response_type"] == "code"
        assert query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        assert query["redirect_uri"] == f"{oidc_web.url}/auth/callback"
        assert query["state"] and query["nonce"]
        flow_cookie = set_cookie(response, "shipyard_oidc").lower()
        assert "httponly" in flow_cookie and "path=/auth/callback" in flow_cookie

        callback = authorize(response.headers["location"])
        assert callback.startswith(f"{oidc_web.url}/auth/callback?")
        done = client.get(callback)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/"
        assert "httponly" in set_cookie(done, "shipyard_session").lower()

        home = client.get("/account")
        assert "Signed in as <strong>jane</strong> (deployer)" in home.text
        assert "group:default/payments" in home.text
        assert "group:default/search" in home.text

        # The session ends as a token's does.
        assert client.post("/logout", data={"csrf_token": page_csrf(client)}).status_code == 303
        assert client.get("/account").headers["location"] == "/login"

    # PKCE: the provider got the verifier whose challenge the browser carried.
    [exchange] = provider.token_requests
    assert pkce_challenge(exchange["code_verifier"]) == query["code_challenge"]
    with transaction(oidc_web.database) as session:
        user = session.scalars(select(User).where(User.subject == f"{provider.issuer}#u-42")).one()
        assert user.name == "jane"
        web_session = session.scalars(select(WebSession)).one()
        assert web_session.token_id is None and web_session.user_id == user.id
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "session.sign_in")
        ).one()
        assert (record.result, record.actor, record.data) == (
            "ok",
            f"{provider.issuer}#u-42",
            {"method": "oidc"},
        )


def test_the_client_secret_is_in_no_file_record_or_page(
    oidc_web: Api, provider: OidcProvider, capfd: pytest.CaptureFixture[str]
) -> None:
    provider.sign_in_as("u-5", groups=["payments"])
    with browser(oidc_web) as client:
        response, _ = start(client)
        pages = [client.get("/login").text, response.headers["location"]]
        done = client.get(authorize(response.headers["location"]))
        assert done.status_code == 303
        pages.append(client.get("/account").text)
    assert all(CLIENT_SECRET not in page for page in pages)
    files = [path for path in oidc_web.settings.data_dir.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert CLIENT_SECRET.encode() not in path.read_bytes(), path
    captured = capfd.readouterr()
    assert CLIENT_SECRET not in captured.out + captured.err


def test_signing_in_again_finds_the_same_person(oidc_web: Api, provider: OidcProvider) -> None:
    for groups in (["search"], ["platform"]):
        provider.sign_in_as("u-7", preferred_username="sam", groups=groups)
        with browser(oidc_web) as client:
            response, _ = start(client)
            assert client.get(authorize(response.headers["location"])).status_code == 303
            role = "admin" if "platform" in groups else "viewer"
            assert f"Signed in as <strong>sam</strong> ({role})" in client.get("/account").text
    with transaction(oidc_web.database) as session:
        assert session.scalars(select(User).where(User.name == "sam")).all()[0].subject
        assert len(session.scalars(select(User).where(User.subject.is_not(None))).all()) == 1


def test_a_callback_whose_state_is_not_this_browsers_is_refused(
    oidc_web: Api, provider: OidcProvider
) -> None:
    provider.sign_in_as("u-1", groups=["platform"])
    with browser(oidc_web) as client:
        response, query = start(client)
        callback = authorize(response.headers["location"])
        forged = callback.replace(query["state"], "someone-elses-state")
        refused = client.get(forged)
        assert refused.status_code == 400
        assert "does not belong to this browser" in refused.text
        assert "shipyard_session" not in client.cookies

    # The victim's browser never started a sign-in: an attacker's code is refused.
    provider.sign_in_as("attacker", groups=["platform"])
    with browser(oidc_web) as attacker:
        response, _ = start(attacker)
        callback = authorize(response.headers["location"])
    with browser(oidc_web) as victim:
        refused = victim.get(callback)
        assert refused.status_code == 400
        assert "took too long or began in another browser" in refused.text
        assert victim.get("/account").headers["location"] == "/login"
    with transaction(oidc_web.database) as session:
        assert session.scalars(select(WebSession)).all() == []
        results = session.scalars(
            select(AuditRecord.result).where(AuditRecord.action == "session.sign_in")
        ).all()
        assert results == ["invalid", "invalid"]


def test_a_refusal_by_the_provider_is_shown_and_audited(oidc_web: Api) -> None:
    with browser(oidc_web) as client:
        _, query = start(client)
        refused = client.get(
            "/auth/callback", params={"error": "access_denied", "state": query["state"]}
        )
        assert refused.status_code == 401
        assert "access_denied" in refused.text


def test_oidc_sign_in_is_absent_when_not_configured(web: Api) -> None:
    with browser(web) as client:
        assert client.get("/login/oidc").status_code == 404
        assert client.get("/auth/callback", params={"code": "x", "state": "y"}).status_code == 404
