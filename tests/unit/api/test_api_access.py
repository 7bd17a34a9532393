"""Who may call what: the role table over every route of the OpenAPI document, tokens,
and the audit record every mutating request leaves (refused ones included)."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.api.bootstrap import rotate_admin_token
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction
from shipyard.store.auth import create_user, issue_token
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import create_deployment
from shipyard.store.enums import Role
from shipyard.store.environments import get_environment
from shipyard.store.stacks import ensure_stack
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.samples import write_component, write_platform

# --- the table under test: written here, not read from the app ---------------------------

PUBLIC, VIEWER, OWNER, ADMIN = "public", "viewer", "deployer of the owning team", "admin"
SIGNED = "a webhook signature, no bearer"

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): VIEWER,
    ("GET", "/api/v1/components"): VIEWER,
    ("GET", "/api/v1/components/{namespace}/{name}"): VIEWER,
    ("GET", "/api/v1/components/{namespace}/{name}/deployments"): VIEWER,
    ("GET", "/api/v1/components/{namespace}/{name}/tags"): VIEWER,
    ("GET", "/api/v1/deployments/{deployment_id}"): VIEWER,
    ("GET", "/api/v1/deployments/{deployment_id}/events"): VIEWER,
    ("POST", "/api/v1/components/{namespace}/{name}/deployments"): OWNER,
    ("POST", "/api/v1/deployments/{deployment_id}/cancel"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/provision"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/rollback"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/promote"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/previews"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/refresh"): OWNER,
    ("POST", "/api/v1/components/{namespace}/{name}/destroy"): ADMIN,
    ("POST", "/api/v1/components"): ADMIN,
    ("POST", "/api/v1/components/sync"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("POST", "/api/v1/subscriptions"): ADMIN,
    ("GET", "/api/v1/subscriptions"): ADMIN,
    ("GET", "/api/v1/subscriptions/{subscription_id}"): ADMIN,
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): ADMIN,
    ("GET", "/api/v1/subscriptions/{subscription_id}/deliveries"): ADMIN,
    ("PUT", "/api/v1/components/{namespace}/{name}/webhook-secret"): OWNER,
    ("POST", "/api/v1/hooks/github"): SIGNED,
    ("POST", "/api/v1/hooks/gitlab"): SIGNED,
    ("POST", "/api/v1/hooks/generic"): SIGNED,
    ("POST", "/api/v1/hooks/backstage"): SIGNED,
    ("POST", "/api/v1/hooks/cloudbuild"): SIGNED,
}
"""Each route of the OpenAPI document: who may call it."""

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/components/{namespace}/{name}/deployments"): {
        "environment": "dev",
        "tag": "v1.0.0",
    },
    ("POST", "/api/v1/components/{namespace}/{name}/provision"): {"environment": "dev"},
    ("POST", "/api/v1/components/{namespace}/{name}/rollback"): {"environment": "dev"},
    ("POST", "/api/v1/components/{namespace}/{name}/promote"): {"from": "dev"},
    ("POST", "/api/v1/components/{namespace}/{name}/previews"): {
        "environment": "dev",
        "tag": "v1.0.0",
    },
    ("POST", "/api/v1/components/{namespace}/{name}/refresh"): {"environment": "dev"},
    ("POST", "/api/v1/components/{namespace}/{name}/destroy"): {"environment": "dev"},
    ("POST", "/api/v1/components/sync"): {"backstage_url": "http://127.0.0.1:9"},
    ("POST", "/api/v1/tokens"): {"role": "viewer"},
    ("POST", "/api/v1/subscriptions"): {
        "url": "https://hooks.example.com/shipyard",
        "events": ["deployment.failed"],
    },
}
QUERIES = {("GET", "/api/v1/deployments/{deployment_id}/events"): {"follow": "false"}}

CALLERS = ("nobody", "viewer", "deployer", "admin")
TEAM = "payments"


@dataclass
class World:
    api: Api
    secrets: dict[str, str]
    """caller -> bearer secret (viewer and deployer act for team payments)."""
    names: dict[str, str]
    own: dict[str, str]
    """path parameter -> a value naming the payments team's component (or its deployment)."""
    other: dict[str, str]
    """... naming a component of another team (finance)."""


def _register(api: Api, directory: Path, name: str, owner: str) -> None:
    descriptor = write_component(directory, name)
    descriptor.write_text(descriptor.read_text().replace("group:default/team-orders", owner))
    response = api.client.post("/api/v1/components", json={"path": str(directory)})
    assert response.status_code in (200, 201), response.text


def _deployment_of(session: Any, name: str) -> int:
    component = get_component_by_ref(session, "default", name)
    stack = ensure_stack(session, component, get_environment(session, "dev"))
    return create_deployment(session, stack, tag="v0.1.0").id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=url,
        platform=write_platform(tmp_path / "platform.yaml"),
        source_roots=[tmp_path],
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            _register(api, tmp_path / "checkout", "checkout", "group:default/payments")
            _register(api, tmp_path / "ledger", "ledger", "finance")
            with transaction(database) as session:
                secrets, names = {"admin": api.token}, {"admin": "admin", "nobody": "anonymous"}
                for role in (Role.viewer, Role.deployer, Role.admin):
                    name = f"{role.value}-holder"
                    teams = ["group:default/payments"] if role is not Role.admin else []
                    issued = issue_token(
                        session, create_user(session, name), name, role=role, teams=teams
                    )
                    secrets[role.value], names[role.value] = issued.secret, name
                victim = issue_token(session, create_user(session, "victim"), "victim")
                own = {"deployment_id": str(_deployment_of(session, "checkout"))}
                other = {"deployment_id": str(_deployment_of(session, "ledger"))}
            own |= {"namespace": "default", "name": "checkout", "token_id": str(victim.token.id)}
            other |= {"namespace": "default", "name": "ledger", "token_id": str(victim.token.id)}
            yield World(api, secrets, names, own, other)
    finally:
        database.dispose()


def _document_routes(api: Api) -> list[tuple[str, str]]:
    document = api.client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )


def _allowed(rule: str, caller: str, owns: bool) -> bool:
    if rule == SIGNED:
        return False  # no bearer opens it, not even the admin's
    if rule == PUBLIC or caller == "admin":
        return True
    if caller == "nobody":
        return False
    if rule == VIEWER:
        return True
    if rule == OWNER:
        return caller == "deployer" and owns
    return False


def _path(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _audit_of(api: Api, request_id: str) -> list[models.AuditRecord]:
    with transaction(api.database, read_only=True) as session:
        rows = session.query(models.AuditRecord).filter_by(request_id=request_id).all()
        session.expunge_all()
        return rows


def _result(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthorized", 403: "forbidden"}.get(
        status, "invalid" if status < 500 else "error"
    )


def test_every_route_in_the_document_has_an_expectation(world: World) -> None:
    routes = _document_routes(world.api)
    assert len(routes) >= 20
    missing = [route for route in routes if route not in EXPECTED]
    assert missing == [], "routes without an access expectation in EXPECTED"


def test_the_role_table_holds_for_every_route_caller_and_team(world: World) -> None:
    routes = _document_routes(world.api)
    assert [route for route in routes if route not in EXPECTED] == []
    seen: dict[str, int] = {"allowed": 0, "refused": 0}
    with httpx.Client(base_url=world.api.url, timeout=30) as client:
        for method, template in routes:
            rule = EXPECTED[(method, template)]
            for caller in CALLERS:
                for owns, values in ((True, world.own), (False, world.other)):
                    request_id = uuid.uuid4().hex
                    headers = {"X-Request-ID": request_id}
                    if caller != "nobody":
                        headers["Authorization"] = f"Bearer {world.secrets[caller]}"
                    response = client.request(
                        method,
                        _path(template, values),
                        headers=headers,
                        json=BODIES.get((method, template)) if method != "GET" else None,
                        params=QUERIES.get((method, template)),
                    )
                    where = (method, template, caller, "own" if owns else "other")
                    if _allowed(rule, caller, owns):
                        seen["allowed"] += 1
                        assert response.status_code not in (401, 403), (where, response.text)
                        assert response.status_code < 500, (where, response.text)
                    elif caller == "nobody" or rule == SIGNED:
                        seen["refused"] += 1
                        assert_problem(response, 401)
                    else:
                        seen["refused"] += 1
                        body = assert_problem(response, 403)
                        assert body["required_role"] in ("deployer", "admin"), where
                    if method != "GET":
                        [record] = _audit_of(world.api, request_id)
                        assert record.result == _result(response.status_code), where
                        assert record.status_code == response.status_code, where
                        assert record.actor == (
                            "anonymous"
                            if caller == "nobody" or rule == SIGNED
                            else world.names[caller]
                        ), where
                        assert record.address == "127.0.0.1"
    assert seen["allowed"] > 50 and seen["refused"] > 50, seen


def test_a_deployer_may_deploy_its_teams_component_and_is_told_why_not_anothers(
    world: World,
) -> None:
    headers = {"Authorization": f"Bearer {world.secrets['deployer']}"}
    body = {"environment": "dev", "tag": "v1.2.3"}
    with httpx.Client(base_url=world.api.url, headers=headers, timeout=30) as client:
        own = client.post("/api/v1/components/default/checkout/deployments", json=body)
        other = client.post("/api/v1/components/default/ledger/deployments", json=body)
        destroy = client.post(
            "/api/v1/components/default/checkout/destroy", json={"environment": "dev"}
        )
    assert own.status_code == 202, own.text
    assert own.json()["component"] == "default/checkout"
    problem = assert_problem(other, 403)
    assert problem["required_role"] == "deployer"
    assert problem["required_team"] == "group:default/finance"
    assert "group:default/finance" in problem["detail"]
    assert "group:default/payments" in problem["detail"]
    problem = assert_problem(destroy, 403)
    assert problem["required_role"] == "admin"
    assert "admin" in problem["detail"]


def test_a_viewer_is_refused_a_deploy_with_the_role_it_needs(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.secrets['viewer']}"}
    response = httpx.post(
        f"{world.api.url}/api/v1/components/default/checkout/deployments",
        json={"environment": "dev", "tag": "v1.2.3"},
        headers=headers,
    )
    problem = assert_problem(response, 403)
    assert problem["required_role"] == "deployer"
    assert "viewer" in problem["detail"]


def test_a_token_is_issued_once_listed_without_its_secret_and_revoked(world: World) -> None:
    admin = world.api.client
    created = admin.post(
        "/api/v1/tokens",
        json={"name": "ci-payments", "role": "deployer", "teams": ["payments", "group:payments"]},
    )
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["secret"].startswith("shp_")
    assert (token["name"], token["role"], token["live"]) == ("ci-payments", "deployer", True)
    assert token["teams"] == ["group:default/payments"]
    assert token["created_by"] == "admin"
    own = {"Authorization": f"Bearer {token['secret']}"}
    deployed = httpx.post(
        f"{world.api.url}/api/v1/components/default/checkout/deployments",
        json={"environment": "dev", "tag": "v2.0.0"},
        headers=own,
    )
    assert deployed.status_code == 202, deployed.text

    listing = admin.get("/api/v1/tokens").json()
    [listed] = [item for item in listing["items"] if item["id"] == token["id"]]
    assert "secret" not in listed and token["secret"] not in str(listing)
    assert listed["last_used_at"] is not None

    revoked = admin.delete(f"/api/v1/tokens/{token['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["live"] is False and revoked.json()["revoked_at"] is not None
    refused = httpx.get(f"{world.api.url}/api/v1/components", headers=own)
    assert_problem(refused, 401)

    audit = admin.get("/api/v1/audit", params={"action": "token."}).json()["items"]
    assert [record["action"] for record in audit] == ["token.revoke", "token.create"]
    assert all(record["actor"] == "admin" for record in audit)
    assert token["secret"] not in str(audit)
    deploy = admin.get("/api/v1/audit", params={"actor": "ci-payments"}).json()["items"]
    assert [(r["action"], r["component"]) for r in deploy] == [
        ("deployment.request", "default/checkout")
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"role": "deployer"}, "at least one team"),
        ({"role": "root"}, "role"),
        ({"role": "viewer", "name": "admin"}, "already exists"),
        ({"role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}, "not in the future"),
        ({"role": "viewer", "teams": ["group:default/a b"]}, "teams"),
    ],
)
def test_a_bad_token_request_says_what_is_wrong(
    world: World, body: dict[str, Any], fragment: str
) -> None:
    response = world.api.client.post("/api/v1/tokens", json=body)
    assert response.status_code in (409, 422), response.text
    assert fragment in response.json()["detail"]


def test_an_expired_token_is_refused(world: World) -> None:
    created = world.api.client.post(
        "/api/v1/tokens", json={"role": "viewer", "expires_at": "2099-01-01T00:00:00Z"}
    ).json()
    assert created["expires_at"].startswith("2099-01-01")
    with transaction(world.api.database) as session:
        token = session.get_one(models.ApiToken, created["id"])
        token.expires_at = token.created_at
    response = httpx.get(
        f"{world.api.url}/api/v1/components",
        headers={"Authorization": f"Bearer {created['secret']}"},
    )
    assert_problem(response, 401)


def test_refused_requests_are_audited_as_anonymous_or_forbidden(world: World) -> None:
    anonymous = httpx.post(
        f"{world.api.url}/api/v1/tokens",
        json={"role": "admin"},
        headers={"Authorization": "Bearer shp_guessed"},
    )
    forbidden = httpx.post(
        f"{world.api.url}/api/v1/tokens",
        json={"role": "admin"},
        headers={"Authorization": f"Bearer {world.secrets['deployer']}"},
    )
    assert_problem(anonymous, 401)
    assert_problem(forbidden, 403)
    page = world.api.client.get("/api/v1/audit", params={"action": "token.create"}).json()
    records = {record["request_id"]: record for record in page["items"]}
    first = records[anonymous.headers["X-Request-ID"]]
    second = records[forbidden.headers["X-Request-ID"]]
    assert (first["actor"], first["result"], first["status_code"]) == (
        "anonymous",
        "unauthorized",
        401,
    )
    assert (first["user_id"], first["token_id"]) == (None, None)
    assert (second["actor"], second["result"], second["status_code"]) == (
        "deployer-holder",
        "forbidden",
        403,
    )
    assert "shp_guessed" not in str(page)


def test_the_audit_log_filters_and_pages(world: World) -> None:
    admin = world.api.client
    for _ in range(3):
        httpx.post(f"{world.api.url}/api/v1/components/default/ledger/refresh", json={})
    first = admin.get("/api/v1/audit", params={"actor": "anonymous", "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = admin.get("/api/v1/audit", params={"actor": "anonymous", "limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    ids = [record["id"] for record in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True)
    on_ledger = admin.get("/api/v1/audit", params={"component": "default/ledger"}).json()
    assert {record["action"] for record in on_ledger["items"]} == {"stack.refresh"}
    newest = first["items"][0]["created_at"]
    later = admin.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later["items"] == []
    until = admin.get("/api/v1/audit", params={"until": newest, "actor": "anonymous"}).json()
    assert all(record["created_at"] < newest for record in until["items"])
    bad = admin.get("/api/v1/audit", params={"since": "yesterday"})
    assert_problem(bad, 422)


def test_the_audit_log_has_no_route_that_changes_a_record(world: World) -> None:
    document = world.api.client.get("/openapi.json").json()
    assert set(document["paths"]["/api/v1/audit"]) == {"get"}
    response = world.api.client.delete("/api/v1/audit")
    assert response.status_code == 405


def test_rotating_the_admin_token_stops_the_old_one(world: World) -> None:
    old = world.api.token
    rotated = rotate_admin_token(world.api.settings, actor="local:test")
    new = rotated.token_file.read_text().strip()
    assert rotated.token_file == world.api.settings.data_dir / "admin-token"
    assert stat.S_IMODE(rotated.token_file.stat().st_mode) == 0o600
    assert new != old and new.startswith("shp_")
    assert_problem(
        httpx.get(f"{world.api.url}/api/v1/tokens", headers={"Authorization": f"Bearer {old}"}),
        401,
    )
    ok = httpx.get(f"{world.api.url}/api/v1/tokens", headers={"Authorization": f"Bearer {new}"})
    assert ok.status_code == 200, ok.text
    audit = httpx.get(
        f"{world.api.url}/api/v1/audit",
        params={"action": "token.rotate-admin"},
        headers={"Authorization": f"Bearer {new}"},
    ).json()["items"]
    assert [(record["actor"], record["subject_id"]) for record in audit] == [
        ("local:test", str(rotated.token_id))
    ]
    assert new not in str(audit) and old not in str(audit)


def test_an_included_route_without_an_access_rule_stops_the_app() -> None:
    from fastapi import APIRouter, FastAPI

    from shipyard.api.access import access
    from shipyard.api.app import _check_access_rules

    router = APIRouter(prefix="/api/v1/things")
    router.add_api_route("/ruled", lambda: None, methods=["GET"], **access("thing.read", None))
    router.add_api_route("/forgotten", lambda: None, methods=["POST"])
    app = FastAPI()
    app.include_router(router)
    with pytest.raises(
        RuntimeError, match=r"without an access rule: \['POST'\] /api/v1/things/forgotten$"
    ):
        _check_access_rules(app)
