"""The operation routes: each records a deployment with its job (202), and names an
unknown component or environment, or an impossible request, as problem+json."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.jobs import JobKind, JobState, get_job
from shipyard.store import transaction
from shipyard.testing.api import Api, assert_problem
from shipyard.testing.samples import write_component

COMPONENT = "/api/v1/components/default/orders-api"
GHOST = "/api/v1/components/default/ghost"

# operation -> (a valid body for dev, the job kind it queues)
OPERATIONS = {
    "provision": ({"environment": "dev"}, JobKind.provision),
    "previews": ({"environment": "dev", "tag": "v1.0.0"}, JobKind.preview),
    "refresh": ({"environment": "dev"}, JobKind.refresh),
    "destroy": ({"environment": "dev"}, JobKind.destroy),
}


@pytest.fixture
def orders(api: Api, tmp_path: Path) -> None:
    write_component(tmp_path / "orders", "orders-api")
    response = api.client.post("/api/v1/components", json={"path": str(tmp_path / "orders")})
    assert response.status_code == 201, response.text


@pytest.mark.usefixtures("orders")
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_operation_is_accepted_as_a_deployment_with_its_job(api: Api, operation: str) -> None:
    body, kind = OPERATIONS[operation]

    response = api.client.post(f"{COMPONENT}/{operation}", json=body)

    assert response.status_code == 202, response.text
    deployment = response.json()
    reason = "preview" if operation == "previews" else operation
    assert (deployment["reason"], deployment["status"]) == (reason, "queued")
    assert (deployment["component"], deployment["environment"]) == ("default/orders-api", "dev")
    with transaction(api.database, read_only=True) as session:
        job = get_job(session, deployment["job"])
        assert (job.kind, job.state, job.stack_key) == (
            kind,
            JobState.queued,
            "default/orders-api/dev",
        )
        assert job.payload["deployment_id"] == deployment["id"]


@pytest.mark.usefixtures("orders")
@pytest.mark.parametrize("operation", ["provision", "rollback", "destroy", "refresh", "previews"])
def test_unknown_component_or_environment_is_a_404_problem(api: Api, operation: str) -> None:
    ghost = api.client.post(f"{GHOST}/{operation}", json={"environment": "dev"})
    moon = api.client.post(f"{COMPONENT}/{operation}", json={"environment": "moon"})

    assert assert_problem(ghost, 404)["detail"] == "component default/ghost not found"
    assert assert_problem(moon, 404)["detail"] == "environment moon not found"
    assert assert_problem(moon, 404)["type"] == "urn:shipyard:problem:not-found"


@pytest.mark.usefixtures("orders")
def test_promote_names_unknown_things_and_refuses_what_cannot_be_promoted(api: Api) -> None:
    ghost = api.client.post(f"{GHOST}/promote", json={"from": "dev"})
    moon_from = api.client.post(f"{COMPONENT}/promote", json={"from": "moon"})
    moon_to = api.client.post(f"{COMPONENT}/promote", json={"from": "dev", "to": "moon"})
    backwards = api.client.post(f"{COMPONENT}/promote", json={"from": "staging", "to": "dev"})
    last = api.client.post(f"{COMPONENT}/promote", json={"from": "staging"})
    nothing = api.client.post(f"{COMPONENT}/promote", json={"from": "dev"})

    assert assert_problem(ghost, 404)["detail"] == "component default/ghost not found"
    assert assert_problem(moon_from, 404)["detail"] == "environment moon not found"
    assert assert_problem(moon_to, 404)["detail"] == "environment moon not found"
    refused = assert_problem(backwards, 422)
    assert refused["type"] == "urn:shipyard:problem:invalid-request"
    assert "dev does not come after staging" in refused["detail"]
    assert "staging is the last environment" in assert_problem(last, 422)["detail"]
    assert "nothing of default/orders-api runs in dev" in assert_problem(nothing, 422)["detail"]


@pytest.mark.usefixtures("orders")
def test_rollback_without_an_earlier_release_and_bad_bodies_are_422_problems(api: Api) -> None:
    rollback = api.client.post(f"{COMPONENT}/rollback", json={"environment": "dev"})
    no_environment = api.client.post(f"{COMPONENT}/provision", json={})
    extra = api.client.post(f"{COMPONENT}/promote", json={"from": "dev", "into": "staging"})

    assert "no earlier release in dev" in assert_problem(rollback, 422)["detail"]
    for response in (no_environment, extra):
        assert assert_problem(response, 422)["type"] == "urn:shipyard:problem:invalid-request"


@pytest.mark.usefixtures("orders")
def test_cancel_a_queued_deployment_cancels_it_and_its_job_at_once(api: Api) -> None:
    queued = api.client.post(f"{COMPONENT}/provision", json={"environment": "dev"}).json()

    cancelled = api.client.post(f"/api/v1/deployments/{queued['id']}/cancel")
    again = api.client.post(f"/api/v1/deployments/{queued['id']}/cancel")

    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert again.json()["status"] == "cancelled"
    with transaction(api.database, read_only=True) as session:
        assert get_job(session, queued["job"]).state is JobState.cancelled
    assert_problem(api.client.post("/api/v1/deployments/999/cancel"), 404)
