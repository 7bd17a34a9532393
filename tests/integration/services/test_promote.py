"""Promote between two local environments: the image running in dev goes to staging as
it is (same digest, no build), with staging's own stack and URL; never back up the list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plane_world import ControlPlane, open_control_plane

from shipyard.store import transaction
from shipyard.store.deployments import get_deployment
from shipyard.store.releases import get_release
from shipyard.testing.api import assert_problem

pytestmark = pytest.mark.integration

DEV_AND_STAGING = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
  - name: staging
    target: local
    settings: {memory: 96Mi}
templates:
  - name: web-service
    default: true
    settings:
      tag-pattern: '^v\\\\d+$'
      cpu: 500m
      memory: 64Mi
"""

_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with open_control_plane(tmp_path, platform=DEV_AND_STAGING) as world:
        yield world


def _finished(plane: ControlPlane, response: Any, wait_for: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    path = f"/api/v1/deployments/{response.json()['id']}"
    wait_for(lambda: plane.api.client.get(path).json()["status"] in _FINISHED, path, 240)
    body: dict[str, Any] = plane.api.client.get(path).json()
    return body


def _digest(plane: ControlPlane, deployment_id: int) -> str:
    with transaction(plane.api.database, read_only=True) as session:
        deployment = get_deployment(session, deployment_id)
        assert deployment.release_id is not None
        return get_release(session, deployment.release_id).image_digest


def test_promote_dev_to_staging_runs_the_same_image_and_never_goes_back(
    plane: ControlPlane, wait_for: Any
) -> None:
    component = f"/api/v1/components/default/{plane.name}"
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    plane.release("v1")
    dev = _finished(
        plane,
        plane.api.client.post(f"{component}/deployments", json={"environment": "dev", "tag": "v1"}),
        wait_for,
    )
    assert dev["status"] == "succeeded", dev["error"]
    plane.release("v2")  # a newer tag exists, but promote takes what runs in dev

    promoted = _finished(
        plane, plane.api.client.post(f"{component}/promote", json={"from": "dev"}), wait_for
    )

    assert promoted["status"] == "succeeded", promoted["error"]
    assert (promoted["reason"], promoted["environment"], promoted["tag"]) == (
        "promote",
        "staging",
        "v1",
    )
    assert promoted["url"] and promoted["url"] != dev["url"]
    assert plane.answer(promoted["url"]) == "v1"
    assert plane.answer(dev["url"]) == "v1"
    assert _digest(plane, promoted["id"]) == _digest(plane, dev["id"])
    events = plane.api.client.get(
        f"/api/v1/deployments/{promoted['id']}/events", params={"follow": "false"}
    ).text
    assert "release.found" in events and "build.started" not in events

    backwards = plane.api.client.post(f"{component}/promote", json={"from": "staging", "to": "dev"})
    beyond = plane.api.client.post(f"{component}/promote", json={"from": "staging"})
    same = plane.api.client.post(f"{component}/promote", json={"from": "dev", "to": "dev"})

    assert "dev does not come after staging" in assert_problem(backwards, 422)["detail"]
    assert "staging is the last environment" in assert_problem(beyond, 422)["detail"]
    assert "dev does not come after dev" in assert_problem(same, 422)["detail"]
