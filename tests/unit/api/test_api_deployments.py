"""Deployments: a request is recorded queued with its deploy job (202), and can be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.jobs import JobKind, JobState, get_job
from shipyard.store import models, transaction
from shipyard.store.components import get_component_by_ref
from shipyard.store.environments import get_environment
from shipyard.store.releases import ensure_release
from shipyard.testing.api import Api, assert_problem
from shipyard.testing.samples import write_component


@pytest.fixture
def orders(api: Api, tmp_path: Path) -> str:
    write_component(tmp_path / "orders", "orders-api")
    response = api.client.post("/api/v1/components", json={"path": str(tmp_path / "orders")})
    assert response.status_code == 201, response.text
    return "/api/v1/components/default/orders-api/deployments"


def test_a_deploy_request_is_accepted_queued_with_its_job(api: Api, orders: str) -> None:
    response = api.client.post(orders, json={"environment": "dev", "tag": "v1.0.0"})

    assert response.status_code == 202, response.text
    deployment = response.json()
    assert deployment["component"] == "default/orders-api"
    assert (deployment["environment"], deployment["tag"]) == ("dev", "v1.0.0")
    assert (deployment["status"], deployment["url"], deployment["force"]) == ("queued", None, False)
    with transaction(api.database, read_only=True) as session:
        job = get_job(session, deployment["job"])
        assert (job.kind, job.state) == (JobKind.deploy, JobState.queued)
        assert job.stack_key == "default/orders-api/dev"
        assert job.payload == {"deployment_id": deployment["id"]}
        # One record for the request (the service's, completed from the request).
        audit = (
            session.query(models.AuditRecord)
            .filter_by(request_id=response.headers["X-Request-ID"])
            .one()
        )
        assert (audit.action, audit.actor, audit.component) == (
            "deployment.request",
            "admin",
            "default/orders-api",
        )
        assert (audit.result, audit.status_code, audit.address) == ("ok", 202, "127.0.0.1")
    assert api.client.get(f"/api/v1/deployments/{deployment['id']}").json() == deployment
    [env] = api.client.get("/api/v1/components/default/orders-api").json()["environments"]
    assert env["environment"] == "dev" and env["last_deployment"] == deployment


def test_a_release_is_deployed_to_its_own_environment(api: Api, orders: str) -> None:
    with transaction(api.database) as session:
        release = ensure_release(
            session,
            get_component_by_ref(session, "default", "orders-api"),
            get_environment(session, "staging"),
            image="localhost/orders-api:v1",
            image_digest="sha256:" + "0" * 64,
            desired_state={"port": 8080},
            tag="v1",
        )
        release_id = release.id

    accepted = api.client.post(orders, json={"release": release_id, "force": True})
    elsewhere = api.client.post(orders, json={"release": release_id, "environment": "dev"})

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert (body["environment"], body["release"], body["tag"], body["force"]) == (
        "staging",
        release_id,
        "v1",
        True,
    )
    assert "resolved for environment 'staging'" in assert_problem(elsewhere, 422)["detail"]


def test_unknown_names_and_incomplete_requests_are_problems(api: Api, orders: str) -> None:
    unknown_env = api.client.post(orders, json={"environment": "moon", "tag": "v1"})
    unknown_component = api.client.post(
        "/api/v1/components/default/ghost/deployments", json={"environment": "dev", "tag": "v1"}
    )
    incomplete = api.client.post(orders, json={"environment": "dev"})

    assert assert_problem(unknown_env, 404)["detail"] == "environment moon not found"
    assert assert_problem(unknown_component, 404)["detail"] == "component default/ghost not found"
    assert "'environment' and 'tag', or 'release'" in assert_problem(incomplete, 422)["detail"]
    assert_problem(api.client.get("/api/v1/deployments/999"), 404)
