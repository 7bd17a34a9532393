"""Signing in to the Web UI with an API token: the cookie, CSRF, signing out, revocation."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from shipyard.api import create_app
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.auth import issue_token, revoke_token, token_holder
from shipyard.store.enums import Role
from shipyard.store.models import AuditRecord, WebSession
from shipyard.testing.api import Api
from shipyard.testing.web import (
    browser,
    login_form_csrf,
    page_csrf,
    set_cookie,
    sign_in_with_token,
)


def sign_in_records(api: Api) -> list[AuditRecord]:
    with transaction(api.database) as session:
        records = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "session.sign_in")
            .order_by(AuditRecord.id)
        ).all()
        session.expunge_all()
        return list(records)


def test_a_token_sign_in_sets_an_httponly_samesite_session_cookie(web: Api) -> None:
    with browser(web) as client:
        response = sign_in_with_token(client, web.token)

        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookie = set_cookie(response, "shipyard_session").lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/" in cookie
        assert "secure" not in cookie  # plain http: a Secure cookie would never come back

        home = client.get("/account")
        assert home.status_code == 200
        assert "Signed in as <strong>admin</strong> (admin)" in home.text

    [record] = sign_in_records(web)
    assert (record.result, record.status_code, record.actor) == ("ok", 303, "admin")
    assert record.data == {"method": "token"}
    assert record.actor_token_id is not None
    assert web.token not in str(record.data)


def test_the_cookie_is_secure_when_the_request_came_over_https(web: Api) -> None:
    with browser(web) as client:
        csrf = login_form_csrf(client)
        response = client.post(
            "/login",
            data={"token": web.token, "login_csrf": csrf},
            headers={"X-Forwarded-Proto": "https"},  # from loopback: a trusted proxy
        )
        assert response.status_code == 303
        assert "secure" in set_cookie(response, "shipyard_session").lower()


def test_the_session_cookie_keeps_only_a_random_id(web: Api) -> None:
    with browser(web) as client:
        sign_in_with_token(client, web.token)
        value = client.cookies["shipyard_session"]
    assert web.token not in value
    with transaction(web.database) as session:
        stored = session.scalars(select(WebSession.session_hash)).all()
    assert value not in stored and len(stored) == 1


def test_a_wrong_token_is_refused_and_audited(web: Api) -> None:
    with browser(web) as client:
        response = sign_in_with_token(client, "shp_not-a-real-token")
        assert response.status_code == 401
        assert "That token is unknown, revoked or expired" in response.text
        assert "shipyard_session" not in client.cookies
        assert client.get("/account").headers["location"] == "/login"

    [record] = sign_in_records(web)
    assert (record.result, record.status_code, record.actor) == ("unauthorized", 401, "anonymous")
    assert "shp_not-a-real-token" not in str(record.data)


def test_a_sign_in_form_posted_from_elsewhere_is_refused(web: Api) -> None:
    with browser(web) as client:
        response = client.post("/login", data={"token": web.token})
        assert response.status_code == 403
        assert "shipyard_session" not in client.cookies
    assert sign_in_records(web)[0].result == "forbidden"


def test_a_page_without_a_session_redirects_to_login(web: Api) -> None:
    with browser(web) as client:
        response = client.get("/account")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        login = client.get("/login")
        assert login.status_code == 200
        assert '<label for="token">API token</label>' in login.text
        assert "sign in with your identity provider" not in login.text.lower()


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(web: Api) -> None:
    with browser(web) as client:
        sign_in_with_token(client, web.token)
        page_csrf(client)

        assert client.post("/logout").status_code == 403
        assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
        assert client.post("/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
        # Refused: the session goes on.
        assert client.get("/account").status_code == 200


def test_signing_out_ends_the_session_on_the_server(web: Api) -> None:
    with browser(web) as client:
        sign_in_with_token(client, web.token)
        cookie = client.cookies["shipyard_session"]
        response = client.post("/logout", data={"csrf_token": page_csrf(client)})
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert 'shipyard_session=""' in set_cookie(response, "shipyard_session")

    # The old cookie, kept by someone, is worth nothing now.
    with browser(web) as replay:
        replay.cookies.set("shipyard_session", cookie)
        assert replay.get("/account").headers["location"] == "/login"
        assert replay.post("/logout", data={"csrf_token": "x"}).status_code == 401
    with transaction(web.database) as session:
        assert session.scalars(select(WebSession.revoked_at)).one() is not None


def test_revoking_the_token_ends_its_sessions(web: Api) -> None:
    with transaction(web.database) as session:
        issued = issue_token(
            session,
            token_holder(session, "ci"),
            "ci",
            role=Role.deployer,
            teams=["group:default/payments"],
        )
        secret, token_id = issued.secret, issued.token.id
    with browser(web) as client:
        assert sign_in_with_token(client, secret).status_code == 303
        home = client.get("/account")
        assert "Signed in as <strong>ci</strong> (deployer)" in home.text
        assert "group:default/payments" in home.text

        with transaction(web.database) as session:
            revoke_token(session, token_id)

        assert client.get("/account").headers["location"] == "/login"


SIGN_IN_ROUTES = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/oidc"),
    ("GET", "/auth/callback"),
}


def web_routes() -> list[tuple[str, str]]:
    """Every (method, path template) of the Web UI (``shipyard.web``), found from the app."""
    app = create_app(Settings())
    return [
        (method, context.path_format)
        for context in iter_route_contexts(app.routes)
        if getattr(context.endpoint, "__module__", "").startswith("shipyard.web")
        and context.path_format
        for method in sorted(context.methods or ())
        if method != "HEAD"
    ]


def test_every_web_page_but_sign_in_needs_a_session(web: Api) -> None:
    routes = web_routes()
    assert ("GET", "/account") in routes and ("POST", "/logout") in routes
    bearer = {"Authorization": f"Bearer {web.token}"}
    with browser(web) as client:
        for method, template in routes:
            if (method, template) in SIGN_IN_ROUTES:
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            # An API token is no session: a page is not reached with a bearer.
            response = client.request(method, path, headers=bearer)
            if method == "GET":
                assert response.status_code == 303, (method, template, response.text)
                assert response.headers["location"] == "/login"
            else:
                assert response.status_code == 401, (method, template, response.text)


def test_signing_in_again_ends_the_browsers_earlier_session(web: Api) -> None:
    with browser(web) as client:
        sign_in_with_token(client, web.token)
        first = client.cookies["shipyard_session"]
        sign_in_with_token(client, web.token)
        assert client.cookies["shipyard_session"] != first
        assert client.get("/account").status_code == 200
    with browser(web) as replay:
        replay.cookies.set("shipyard_session", first)
        assert replay.get("/account").headers["location"] == "/login"
