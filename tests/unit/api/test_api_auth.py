"""Every route but /healthz needs a live bearer token; the admin token is written 0600."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from shipyard.api import create_app
from shipyard.api.access import route_rule
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.auth import create_user, issue_token, revoke_token
from shipyard.testing.api import Api, assert_problem
from shipyard.testing.server import running_server

PUBLIC = {("GET", "/healthz")}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, found from the app itself; but the
    Web UI's pages (``shipyard.web``), which take a cookie session and not a bearer token
    (tests/unit/web checks that each refuses a request without one)."""
    app = create_app(Settings())
    found = []
    for context in iter_route_contexts(app.routes):
        if getattr(context.endpoint, "__module__", "").startswith("shipyard.web"):
            continue
        rule = route_rule(context.original_route) or {}
        if rule.get("authentication") == "signature":
            SIGNED.append(context.path_format or "")
            continue  # a webhook: signed by its sender, refused by tests/unit/api/test_hooks*
        for method in sorted(context.methods or ()):
            if method != "HEAD" and context.path_format:
                found.append((method, context.path_format))
    return found


SIGNED: list[str] = []
ROUTES = _routes()


def test_only_the_webhooks_are_left_to_their_signatures() -> None:
    assert SIGNED and all(path.startswith("/api/v1/hooks/") for path in SIGNED)


def test_the_route_table_is_found() -> None:
    assert ("GET", "/openapi.json") in ROUTES
    assert ("GET", "/metrics") in ROUTES
    assert ("POST", "/api/v1/components/{namespace}/{name}/deployments") in ROUTES
    assert len(ROUTES) >= 9


@pytest.mark.parametrize("token", [None, "shp_not-a-real-token"], ids=["no-token", "bad-token"])
def test_every_route_but_healthz_refuses_a_request_without_a_valid_token(
    sqlite_api: Api, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with sqlite_api.anonymous() as client:
        for method, template in ROUTES:
            if (method, template) in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, template, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert_problem(response, 401, instance=path)


def test_healthz_answers_without_a_token(sqlite_api: Api) -> None:
    with sqlite_api.anonymous() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_revoked_token_is_refused_and_another_users_token_is_accepted(sqlite_api: Api) -> None:
    with transaction(sqlite_api.database) as session:
        user = create_user(session, "alice")
        kept = issue_token(session, user, "laptop")
        revoked = issue_token(session, user, "old")
        revoke_token(session, revoked.token.id)
    with sqlite_api.anonymous() as client:
        ok = client.get("/api/v1/components", headers={"Authorization": f"Bearer {kept.secret}"})
        refused = client.get(
            "/api/v1/components", headers={"Authorization": f"Bearer {revoked.secret}"}
        )
    assert ok.status_code == 200
    assert_problem(refused, 401)


def test_the_admin_token_file_is_private_and_written_once(sqlite_api: Api) -> None:
    token_file = sqlite_api.settings.data_dir / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert sqlite_api.token.startswith("shp_")
    assert sqlite_api.client.get("/api/v1/components").status_code == 200


def test_a_second_start_keeps_the_first_admin_token(sqlite_api: Api) -> None:
    token_file = sqlite_api.settings.data_dir / "admin-token"
    before = token_file.read_text()
    with running_server(create_app(sqlite_api.settings)) as url:
        response = httpx.get(
            f"{url}/api/v1/components", headers={"Authorization": f"Bearer {sqlite_api.token}"}
        )
    assert response.status_code == 200
    assert token_file.read_text() == before


def test_building_the_app_touches_nothing(tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path / "data"))
    assert not (tmp_path / "data").exists()
