"""The Web UI's pages and forms over real HTTP, signed in as a browser is: what each role
sees, what the server refuses whatever the page shows, and what a form records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from shipyard.store import models, transaction
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import append_event
from shipyard.testing.api import Api
from shipyard.testing.samples import write_component
from shipyard.testing.web import browser, page_csrf, sign_in_with_token
from shipyard.web.pages import PAGE_SIZE

ORDERS = "/components/default/orders-api"


@pytest.fixture
def site(serve_web: object, tmp_path: Path) -> Iterator[Api]:
    """The app, with orders-api (owned by team-orders) registered."""
    with serve_web(source_roots=[tmp_path]) as api:  # type: ignore[operator]
        write_component(tmp_path / "orders", "orders-api")
        registered = api.client.post("/api/v1/components", json={"path": str(tmp_path / "orders")})
        assert registered.status_code == 201, registered.text
        yield api


def _token(api: Api, role: str, *teams: str) -> str:
    response = api.client.post("/api/v1/tokens", json={"role": role, "teams": list(teams)})
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


@contextmanager
def _signed_in(api: Api, token: str) -> Iterator[httpx.Client]:
    with browser(api) as client:
        assert sign_in_with_token(client, token).status_code == 303
        yield client


def _deploy_form(client: httpx.Client, csrf: str | None) -> httpx.Response:
    data = {"environment": "dev", "tag": "v1.0.0"}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(f"{ORDERS}/deploy", data=data)


def _deployments(api: Api) -> list[models.Deployment]:
    with transaction(api.database, read_only=True) as session:
        rows = session.scalars(select(models.Deployment)).all()
        session.expunge_all()
        return list(rows)


def test_an_admin_deploys_from_the_component_page_and_lands_on_its_deployment(site: Api) -> None:
    with _signed_in(site, site.token) as client:
        page = client.get(ORDERS)
        assert page.status_code == 200
        assert ">Deploy</button>" in page.text and ">Rollback<" not in page.text  # nothing runs
        response = _deploy_form(client, page_csrf(client))
        assert response.status_code == 303, response.text
        [deployment] = _deployments(site)
        assert response.headers["location"] == f"/deployments/{deployment.id}"
        shown = client.get(response.headers["location"])

    assert (deployment.tag, deployment.status) == ("v1.0.0", DeploymentStatus.queued)
    assert shown.status_code == 200
    assert "Deploy #" in shown.text and "v1.0.0" in shown.text
    assert f'data-stream="/ui/deployments/{deployment.id}/events?after=0"' in shown.text
    with transaction(site.database, read_only=True) as session:
        record = session.scalars(
            select(models.AuditRecord).where(models.AuditRecord.action == "deployment.request")
        ).one()
        assert (record.actor, record.component) == ("admin", "default/orders-api")


def test_a_viewer_sees_no_deploy_button_and_its_form_is_refused(site: Api) -> None:
    viewer = _token(site, "viewer")
    with _signed_in(site, viewer) as client:
        page = client.get(ORDERS)
        refused = _deploy_form(client, page_csrf(client))
        tokens = client.get("/tokens")
        audit = client.get("/audit")

    assert page.status_code == 200
    assert "Deploy</button>" not in page.text
    assert "Destroy" not in page.text
    assert 'action="/components/default/orders-api/deploy"' not in page.text
    assert refused.status_code == 403
    assert "deployer" in refused.text  # the API's own reason
    assert (tokens.status_code, audit.status_code) == (403, 403)
    assert _deployments(site) == []
    with transaction(site.database, read_only=True) as session:
        record = session.scalars(
            select(models.AuditRecord).where(models.AuditRecord.result == "forbidden")
        ).one()
        assert (record.action, record.status_code) == ("deployment.create", 403)


def test_a_deployer_of_another_team_sees_no_button_and_is_refused(site: Api) -> None:
    other = _token(site, "deployer", "team-billing")
    with _signed_in(site, other) as client:
        page = client.get(ORDERS)
        refused = _deploy_form(client, page_csrf(client))
    own = _token(site, "deployer", "team-orders")
    with _signed_in(site, own) as client:
        allowed_page = client.get(ORDERS)

    assert "Deploy</button>" not in page.text
    assert refused.status_code == 403
    assert "Deploy</button>" in allowed_page.text
    assert "Destroy" not in allowed_page.text  # destroy is for admins


def test_a_form_without_its_csrf_token_is_refused(site: Api) -> None:
    with _signed_in(site, site.token) as client:
        missing = _deploy_form(client, None)
        forged = _deploy_form(client, "not-the-token")

    assert (missing.status_code, forged.status_code) == (403, 403)
    assert _deployments(site) == []


def test_destroy_needs_the_component_name_typed(site: Api) -> None:
    with _signed_in(site, site.token) as client:
        csrf = page_csrf(client)
        form = {"environment": "dev", "confirm": "orders", "csrf_token": csrf}
        wrong = client.post(f"{ORDERS}/destroy", data=form)

    assert wrong.status_code == 422
    assert "type the component&#39;s name (orders-api)" in wrong.text
    assert _deployments(site) == []


def test_pages_need_a_session(site: Api) -> None:
    with browser(site) as client:
        for path in ("/", ORDERS, "/audit", "/tokens", "/deployments/1"):
            response = client.get(path)
            assert (response.status_code, response.headers.get("location")) == (303, "/login")
        posted = client.post(f"{ORDERS}/deploy", data={"environment": "dev", "tag": "v1"})
        assert posted.status_code in (401, 403)


def test_the_components_page_searches_filters_by_owner_and_pages(site: Api) -> None:
    with transaction(site.database) as session:
        session.execute(
            insert(models.Component),
            [
                {
                    "namespace": "bulk",
                    "name": f"svc-{number:04d}",
                    "owner": "group:default/team-bulk" if number % 2 else "group:default/other",
                    "descriptor": {},
                }
                for number in range(PAGE_SIZE * 2 + 10)
            ],
        )
    with _signed_in(site, site.token) as client:
        first = client.get("/")
        third = client.get("/", params={"page": 3})
        found = client.get("/", params={"q": "ORDERS"})
        owned = client.get("/", params={"owner": "group:default/team-bulk", "q": "svc-00"})

    def names(page: httpx.Response) -> list[str]:
        return re.findall(r'class="component-link" href="[^"]+">([^<]+)<', page.text)

    assert len(names(first)) == PAGE_SIZE and 'rel="next"' in first.text
    assert len(names(third)) == 11 and 'rel="next"' not in third.text  # 110 + orders-api
    assert names(found) == ["orders-api"]
    assert names(owned) == [f"svc-{n:04d}" for n in range(1, 100, 2)][:PAGE_SIZE]


def test_the_deployment_page_shows_the_error_what_to_do_and_the_log(site: Api) -> None:
    with _signed_in(site, site.token) as client:
        _deploy_form(client, page_csrf(client))
        [deployment] = _deployments(site)
        assert deployment.job_id is not None
        with transaction(site.database) as session:
            append_event(session, deployment.job_id, "log", "building v1.0.0")
            row = session.get_one(models.Deployment, deployment.id)
            set_deployment_status(
                session,
                row,
                DeploymentStatus.failed,
                error="revision 2 never became healthy, so traffic stays on the running one",
            )
        page = client.get(f"/deployments/{deployment.id}")
        stream = client.get(f"/ui/deployments/{deployment.id}/events")
        resumed = client.get(
            f"/ui/deployments/{deployment.id}/events", headers={"Last-Event-ID": "1"}
        )

    assert page.status_code == 200
    assert "never became healthy" in page.text
    assert "What to do next:" in page.text and "health check" in page.text
    assert "building v1.0.0" in page.text
    assert 'data-stream=""' in page.text  # finished: nothing to follow
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "id: 1\n" in stream.text and "building v1.0.0" in stream.text
    assert 'event: end\ndata: {"status": "failed"}' in stream.text
    assert "building v1.0.0" not in resumed.text and "event: end" in resumed.text


def test_an_admin_issues_a_token_sees_its_secret_once_and_revokes_it(site: Api) -> None:
    with _signed_in(site, site.token) as client:
        csrf = page_csrf(client)
        issued = client.post(
            "/tokens",
            data={
                "csrf_token": csrf,
                "name": "ci-orders",
                "role": "deployer",
                "teams": "team-orders",
            },
        )
        secret = re.search(r'id="secret"[^>]*value="([^"]+)"', issued.text)
        listed = client.get("/tokens")
        with transaction(site.database, read_only=True) as session:
            token = session.scalars(
                select(models.ApiToken).where(models.ApiToken.name == "ci-orders")
            ).one()
            token_id, teams = token.id, token.teams
        revoked = client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})

    assert issued.status_code == 201 and secret is not None
    assert teams == ["group:default/team-orders"]
    assert secret.group(1) not in listed.text  # shown once
    assert revoked.status_code == 303
    with httpx.Client(base_url=site.url, trust_env=False) as other:
        refused = other.get(
            "/api/v1/components", headers={"Authorization": f"Bearer {secret.group(1)}"}
        )
    assert refused.status_code == 401


def test_every_form_follows_the_rule_of_an_existing_api_route(site: Api) -> None:
    from shipyard.api.access import ACCESS_EXTENSION
    from shipyard.web._authorize import API_ROUTES

    document = site.client.get("/openapi.json").json()

    for what, (method, path) in API_ROUTES.items():
        operation = document["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{what}: no {method} {path} in the API"
        assert ACCESS_EXTENSION in operation, f"{what}: {method} {path} declares no rule"


def test_a_finished_preview_shows_its_diff_and_offers_that_deploy(site: Api) -> None:
    viewer = _token(site, "viewer")
    with _signed_in(site, site.token) as client:
        form = {"environment": "dev", "tag": "v1.0.0", "csrf_token": page_csrf(client)}
        requested = client.post(f"{ORDERS}/preview", data=form)
        assert requested.status_code == 303, requested.text
        [preview] = _deployments(site)
        assert preview.reason == "preview" and preview.job_id is not None
        pending = client.get(f"/deployments/{preview.id}")
        with transaction(site.database) as session:
            urn = "urn:pulumi:dev::orders::shipyard:local:Service::service"
            data = {"urn": urn, "resource_type": "shipyard:local:Service", "op": "update"}
            data["changed_keys"] = ["image"]
            append_event(session, preview.job_id, "engine.resource_step", "update", data=data)
            row = session.get_one(models.Deployment, preview.id)
            set_deployment_status(session, row, DeploymentStatus.succeeded)
        done = client.get(f"/deployments/{preview.id}")
    with _signed_in(site, viewer) as client:
        seen_by_viewer = client.get(f"/deployments/{preview.id}")

    assert "once the preview has finished" in pending.text
    assert "Deploy v1.0.0 to dev" not in pending.text
    assert re.search(r"<th[^>]*>service</th>.*?op-update.*?image", done.text, re.S)
    assert "Deploy v1.0.0 to dev" in done.text
    assert "op-update" in seen_by_viewer.text
    assert "Deploy v1.0.0 to dev" not in seen_by_viewer.text


def test_an_id_beyond_the_database_is_refused_not_an_error(site: Api) -> None:
    huge = 2**70
    with _signed_in(site, site.token) as client:
        page = client.get(f"/deployments/{huge}")
        stream = client.get(f"/ui/deployments/{huge}/events")
        missing = client.get("/deployments/999")

    assert (page.status_code, stream.status_code) == (422, 422)
    assert missing.status_code == 404 and "No such deployment" in missing.text
