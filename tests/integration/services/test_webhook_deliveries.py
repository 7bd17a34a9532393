"""Webhooks out end to end: the API, real workers, git tags, podman, Pulumi, and a
receiver of the test's own on 127.0.0.1 that fails its first three deliveries, then
gets every event exactly once (by ``webhook-id``), each signature verified."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plane_world import open_control_plane
from sqlalchemy import select

from shipyard.store import models, transaction
from shipyard.testing.fixtures import BACKENDS, postgres_cluster
from shipyard.testing.postgres import PostgresCluster
from shipyard.testing.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.integration
__all__ = ["postgres_cluster"]  # the fixture, for this module

EVENTS = [
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.cancelled",
    "build.failed",
]
_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}


def _deploy(plane: Any, tag: str, wait_for: Any) -> dict[str, Any]:
    client = plane.api.client
    response = client.post(
        f"/api/v1/components/default/{plane.name}/deployments",
        json={"environment": "dev", "tag": tag},
    )
    assert response.status_code == 202, response.text
    path = f"/api/v1/deployments/{response.json()['id']}"
    wait_for(lambda: client.get(path).json()["status"] in _FINISHED, f"{tag} to finish", 240)
    body: dict[str, Any] = client.get(path).json()
    return body


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: the data dir's SQLite; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    with cluster.database() as url:
        yield url


def test_a_receiver_that_fails_three_times_gets_every_event_once(
    tmp_path: Path, wait_for: Any, database_url: str | None
) -> None:
    overrides: dict[str, Any] = {
        "delivery_allowed_networks": [ipaddress.ip_network("127.0.0.0/8")],
        "delivery_retry_delays": [0.3] * 7,  # the schedule's shape, in seconds
    }
    if database_url is not None:
        overrides["database_url"] = database_url
    with (
        webhook_receiver() as receiver,
        open_control_plane(tmp_path, workers=2, settings_overrides=overrides) as plane,
    ):
        client = plane.api.client
        registered = client.post("/api/v1/components", json={"path": str(plane.catalog)})
        assert registered.status_code == 201, registered.text
        created = client.post(
            "/api/v1/subscriptions",
            json={"url": receiver.url, "events": EVENTS, "component": plane.name},
        )
        assert created.status_code == 201, created.text
        subscription = created.json()
        receiver.secret = subscription["secret"]
        receiver.fail_next([500, 502, 503])  # down for its first three deliveries

        plane.release("v1")
        good = _deploy(plane, "v1", wait_for)
        bad = _deploy(plane, "v404", wait_for)  # no such tag
        # Delivery never fails a deployment: these are their own outcomes.
        assert good["status"] == "succeeded", good["error"]
        assert bad["status"] == "failed"

        deliveries_path = f"/api/v1/subscriptions/{subscription['id']}/deliveries"

        def all_delivered() -> bool:
            with transaction(plane.api.database, read_only=True) as session:
                events = session.scalars(select(models.OutboxEvent)).all()
                if any(event.dispatched_at is None for event in events):
                    return False
            items = client.get(deliveries_path, params={"limit": 200}).json()["items"]
            return len(items) == len(events) and all(
                item["status"] == "succeeded" for item in items
            )

        wait_for(all_delivered, "every delivery to succeed", 120)
        deliveries = client.get(deliveries_path, params={"limit": 200}).json()["items"]

    # The first three requests were refused, and retried.
    assert [item.status for item in receiver.received[:3]] == [500, 502, 503]
    accepted = receiver.accepted()
    by_id = Counter(item.headers["webhook-id"] for item in accepted)
    assert set(by_id.values()) == {1}, by_id  # each event accepted exactly once
    assert set(by_id) == {item["webhook_id"] for item in deliveries}
    assert all(item.error is None for item in receiver.received)  # every signature verified
    told = {(item.verified["type"], item.verified["data"]["deployment"]) for item in accepted}
    assert {
        ("deployment.started", good["id"]),
        ("deployment.succeeded", good["id"]),
        ("deployment.started", bad["id"]),
        ("deployment.failed", bad["id"]),
    } <= told
    # Every try is on the record: the three refusals plus one success per delivery.
    assert sum(item["attempts"] for item in deliveries) == len(deliveries) + 3
    assert sum(len(item["tries"]) for item in deliveries) == len(receiver.received)
    refused = [t["status_code"] for item in deliveries for t in item["tries"][:-1]]
    assert sorted(refused) == [500, 502, 503]
    assert all(item["last_status_code"] == 204 for item in deliveries)
