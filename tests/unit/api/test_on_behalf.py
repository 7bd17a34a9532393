"""A service acting for a person (the Backstage backend plugin): its API token plus a signed
on-behalf-of assertion, against a real served API. The person's role and teams apply,
never more than the service's; bad assertions get a 401 that says why; the audit log
names the person and the service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from shipyard.api.on_behalf import ON_BEHALF_HEADER
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.store.auth import create_user, issue_token
from shipyard.store.enums import Role
from shipyard.testing.api import Api, assert_problem, serve_sqlite_api
from shipyard.testing.oidc import OidcProvider, serve_oidc_provider
from shipyard.testing.samples import write_component

SECRET = "s3cr3t-shared-with-the-backstage-backend-0123456789"
ROLE_MAP = {"group:default/payments": "deployer", "group:default/platform": "admin"}


@dataclass
class World:
    api: Api
    service: str
    """The admin-role token of the service user ``backstage``."""
    scoped: str
    """A deployer token of the service user ``backstage-payments``, scoped to payments."""
    plain: str
    """A deployer token of a user no setting names a service."""
    provider: OidcProvider


def _register(api: Api, directory: Path, name: str, owner: str) -> None:
    descriptor = write_component(directory, name)
    descriptor.write_text(descriptor.read_text().replace("group:default/team-orders", owner))
    response = api.client.post("/api/v1/components", json={"path": str(directory)})
    assert response.status_code in (200, 201), response.text


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider(audience="shipyard") as provider:
        yield provider


@pytest.fixture
def world(tmp_path: Path, provider: OidcProvider) -> Iterator[World]:
    with serve_sqlite_api(
        tmp_path,
        source_roots=[tmp_path],
        on_behalf_secret=SECRET,
        on_behalf_services=["backstage", "backstage-payments"],
        oidc_issuer=provider.issuer,
        oidc_audience="shipyard",
        oidc_role_map=ROLE_MAP,
    ) as api:
        _register(api, tmp_path / "checkout", "checkout", "group:default/payments")
        _register(api, tmp_path / "ledger", "ledger", "group:default/finance")
        with transaction(api.database) as session:
            service = issue_token(
                session, create_user(session, "backstage"), "plugin", role=Role.admin
            ).secret
            scoped = issue_token(
                session,
                create_user(session, "backstage-payments"),
                "plugin",
                role=Role.deployer,
                teams=["group:default/payments"],
            ).secret
            plain = issue_token(
                session,
                create_user(session, "ci"),
                "ci",
                role=Role.deployer,
                teams=["group:default/payments"],
            ).secret
        yield World(api, service, scoped, plain, provider)


def assertion(
    sub: str = "user:default/jane",
    ent: list[str] | None = None,
    *,
    secret: str = SECRET,
    lifetime: int = 60,
    issued: float | None = None,
    **claims: Any,
) -> str:
    now = int(time.time() if issued is None else issued)
    body = {
        "iss": "backstage",
        "aud": "shipyard",
        "sub": sub,
        "ent": [sub, "group:default/payments"] if ent is None else ent,
        "iat": now,
        "exp": now + lifetime,
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, "HS256")


def call(
    world: World,
    method: str,
    path: str,
    *,
    token: str | None = None,
    person: str | None = None,
    json: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or world.service}"}
    if person is not None:
        headers[ON_BEHALF_HEADER] = person
    return httpx.request(method, f"{world.api.url}{path}", headers=headers, json=json, timeout=30)


def audit_of(world: World, response: httpx.Response) -> dict[str, Any]:
    page = world.api.client.get("/api/v1/audit", params={"limit": 100}).json()
    found = [r for r in page["items"] if r["request_id"] == response.headers["X-Request-ID"]]
    assert len(found) == 1, page
    record: dict[str, Any] = found[0]
    return record


REFRESH_CHECKOUT = "/api/v1/components/default/checkout/refresh"
REFRESH_LEDGER = "/api/v1/components/default/ledger/refresh"


def test_the_person_acts_with_their_teams_and_the_audit_log_names_person_and_service(
    world: World,
) -> None:
    response = call(
        world, "POST", REFRESH_CHECKOUT, person=assertion(), json={"environment": "dev"}
    )
    assert response.status_code < 400, response.text

    record = audit_of(world, response)
    assert record["actor"] == "backstage#user:default/jane via backstage"
    assert record["component"] == "default/checkout"
    with transaction(world.api.database, read_only=True) as session:
        jane = session.scalars(
            select(models.User).where(models.User.subject == "backstage#user:default/jane")
        ).one()
        service_token = session.scalars(
            select(models.ApiToken)
            .join(models.User, models.User.id == models.ApiToken.user_id)
            .where(models.User.name == "backstage")
        ).one()
        assert (record["user_id"], record["token_id"]) == (jane.id, service_token.id)
        assert jane.name == "jane"


def test_a_person_of_another_team_is_refused_with_the_team_it_needs(world: World) -> None:
    response = call(world, "POST", REFRESH_LEDGER, person=assertion(), json={"environment": "dev"})
    body = assert_problem(response, 403)
    assert body["required_team"] == "group:default/finance"
    assert "group:default/payments" in body["detail"]
    record = audit_of(world, response)
    assert (record["actor"], record["result"]) == (
        "backstage#user:default/jane via backstage",
        "forbidden",
    )


def test_a_person_without_a_deploying_group_is_a_viewer_even_through_an_admin_service(
    world: World,
) -> None:
    reader = assertion("user:default/rob", ["group:default/marketing"])
    assert call(world, "GET", "/api/v1/components", person=reader).status_code == 200
    refused = call(world, "POST", REFRESH_CHECKOUT, person=reader, json={"environment": "dev"})
    assert "this credential is a viewer" in assert_problem(refused, 403)["detail"]
    assert_problem(call(world, "GET", "/api/v1/audit", person=reader), 403)


def test_the_person_never_gets_more_than_the_service(world: World) -> None:
    admin_person = assertion("user:default/ada", ["group:default/platform"])
    # Through the admin service: the person's admin role.
    assert call(world, "GET", "/api/v1/audit", person=admin_person).status_code == 200
    # Through a deployer scoped to payments: a deployer for payments only.
    capped = call(world, "GET", "/api/v1/audit", token=world.scoped, person=admin_person)
    assert "needs the admin role" in assert_problem(capped, 403)["detail"]
    both = assertion("user:default/ada", ["group:default/platform", "group:default/finance"])
    ledger = call(
        world, "POST", REFRESH_LEDGER, token=world.scoped, person=both, json={"environment": "dev"}
    )
    assert assert_problem(ledger, 403)["required_team"] == "group:default/finance"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: None, "it acts only for a person"),
        (lambda: "", "not a signed JWT"),
        (lambda: assertion(issued=time.time() - 600), "it has expired"),
        (lambda: assertion(secret="another-secret-of-at-least-32-characters!"), "forged"),
        (lambda: assertion(lifetime=3600), "300 s at most"),
        (lambda: assertion(aud="backstage"), "audience is not 'shipyard'"),
        (lambda: assertion(iss="elsewhere"), "issuer is not 'backstage'"),
        (lambda: assertion(sub="group:default/payments"), "not a user entity"),
        (lambda: assertion(ent="group:default/payments"), "'ent' is not a list"),
        (
            lambda: jwt.encode({"sub": "user:default/jane"}, SECRET, "HS256"),
            "it has no 'exp' claim",
        ),
        (lambda: "a.b.c", "header cannot be read"),
    ],
    ids=[
        "missing",
        "empty",
        "expired",
        "forged",
        "long-lived",
        "audience",
        "issuer",
        "not-a-user",
        "ent-not-a-list",
        "no-exp",
        "garbage",
    ],
)
def test_a_missing_or_bad_assertion_is_a_401_that_says_why(
    world: World, make: Any, reason: str
) -> None:
    token = make()
    response = call(world, "POST", REFRESH_CHECKOUT, person=token, json={"environment": "dev"})
    body = assert_problem(response, 401)
    assert reason in body["detail"]
    if token:
        assert token not in response.text
    record = audit_of(world, response)
    assert (record["actor"], record["result"]) == ("anonymous", "unauthorized")


def test_an_assertion_signed_with_none_or_another_algorithm_is_refused(world: World) -> None:
    unsigned = jwt.encode(
        {"iss": "backstage", "aud": "shipyard", "sub": "user:default/jane"}, None, "none"
    )
    assert (
        "algorithm is not HS256"
        in assert_problem(call(world, "GET", "/api/v1/components", person=unsigned), 401)["detail"]
    )


def test_only_a_listed_service_token_may_send_an_assertion(world: World) -> None:
    # A token of a user SHIPYARD_ON_BEHALF_SERVICES does not list.
    plain = call(world, "GET", "/api/v1/components", token=world.plain, person=assertion())
    assert "SHIPYARD_ON_BEHALF_SERVICES" in assert_problem(plain, 401)["detail"]
    # A person's own bearer (a JWT of the OIDC issuer) cannot speak for another person.
    person = world.provider.token("u-1", groups=["payments"])
    mixed = call(world, "GET", "/api/v1/components", token=person, person=assertion())
    assert_problem(mixed, 401)
    # Without the header, the plain token and the person's JWT are themselves.
    assert call(world, "GET", "/api/v1/components", token=world.plain).status_code == 200
    assert call(world, "GET", "/api/v1/components", token=person).status_code == 200


def test_without_a_secret_no_assertion_is_accepted(tmp_path: Path) -> None:
    with serve_sqlite_api(tmp_path, on_behalf_services=["backstage"]) as api:
        with transaction(api.database) as session:
            secret = issue_token(
                session, create_user(session, "backstage"), "plugin", role=Role.admin
            ).secret
        response = httpx.get(
            f"{api.url}/api/v1/components",
            headers={"Authorization": f"Bearer {secret}", ON_BEHALF_HEADER: assertion()},
        )
    assert "set SHIPYARD_ON_BEHALF_SECRET" in assert_problem(response, 401)["detail"]


def test_a_short_secret_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValueError, match="on_behalf_secret"):
        Settings(on_behalf_secret="too-short")
