"""The use cases end to end: the API, a real worker, git tags, podman, Pulumi, HTTP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli._client import SseMessage, iter_sse
from shipyard.services.autodeploy import on_new_tag
from shipyard.targets.local import detect_container_engine
from shipyard.targets.local.builds import image_reference
from shipyard.targets.local.instance import instance_id
from shipyard.targets.local.labels import COMMIT, COMPONENT
from shipyard.targets.local.trigger import BuildRequested

pytestmark = pytest.mark.integration

_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}


@pytest.fixture(autouse=True)
def _no_google_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Application Default Credentials, whatever the machine has (set before the
    control plane's workers start): no key file, no gcloud ADC file, no GCE metadata."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


def _finished(
    plane: Any, deployment: dict[str, Any], wait_for: Any, timeout: float = 240
) -> dict[str, Any]:
    path = f"/api/v1/deployments/{deployment['id']}"
    wait_for(
        lambda: plane.api.client.get(path).json()["status"] in _FINISHED,
        f"deployment {deployment['id']} ({deployment['reason']}) to finish",
        timeout,
    )
    body: dict[str, Any] = plane.api.client.get(path).json()
    return body


def _post(plane: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = plane.api.client.post(f"/api/v1/components/default/{plane.name}{path}", json=body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def _follow(plane: Any, deployment_id: int) -> list[SseMessage]:
    """The deployment's SSE messages, followed live until the stream's ``end``."""
    with plane.api.client.stream(
        "GET", f"/api/v1/deployments/{deployment_id}/events", timeout=240
    ) as response:
        assert response.status_code == 200
        return list(iter_sse(response.iter_lines()))


def _updates(settings_dir: Path, name: str) -> int:
    """How many updates the stack's Pulumi history holds (the file backend's records)."""
    return sum(1 for _ in (settings_dir / "state").rglob(f"*{name}*/dev/*.history.json"))


def test_register_provision_autodeploy_deploy_unchanged_drift_rollback_destroy(
    control_plane: Any, wait_for: Any
) -> None:
    plane = control_plane
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text

    provisioned = _finished(plane, _post(plane, "/provision", {"environment": "dev"}), wait_for)
    assert provisioned["status"] == "succeeded", provisioned["error"]
    assert provisioned["url"]

    commit = plane.release("v1")
    event = BuildRequested(f"default/{plane.name}", str(plane.repo), "v1", commit)
    (auto_id,) = on_new_tag(plane.api.database, event)
    auto = _finished(plane, {"id": auto_id, "reason": "auto"}, wait_for)
    assert auto["status"] == "succeeded", auto["error"]
    assert auto["reason"] == "auto"
    assert plane.answer(auto["url"]) == "v1"

    plane.release("v2")
    requested = _post(plane, "/deployments", {"environment": "dev", "tag": "v2"})
    followed = _follow(plane, requested["id"])  # live, from the request on
    v2 = _finished(plane, requested, wait_for)
    assert v2["status"] == "succeeded", v2["error"]
    assert plane.answer(v2["url"]) == "v2"
    # The stream ends after the deployment's own last event, never before it; only the
    # worker's record of the job's end may have been stored by then too.
    assert followed[-1].event == "end"
    assert json.loads(followed[-1].data) == {"status": "succeeded"}
    kinds = [json.loads(message.data)["kind"] for message in followed[:-1]]
    ended = kinds.index("deployment.succeeded")
    assert kinds[ended + 1 :] in ([], ["succeeded"])
    last = json.loads(followed[ended].data)
    assert last["data"]["url"] == v2["url"]
    events = plane.api.client.get(
        f"/api/v1/deployments/{v2['id']}/events", params={"follow": "false"}
    ).text
    assert "build.log" in events and "engine." in events

    updates = _updates(plane.settings.data_dir, plane.name)
    again = _post(plane, "/deployments", {"environment": "dev", "tag": "v2"})
    assert again["status"] == "unchanged"
    assert again["job"] is None
    assert _updates(plane.settings.data_dir, plane.name) == updates

    containers = detect_container_engine(plane.settings)
    for container in containers.list_containers({COMPONENT: f"default/{plane.name}"}):
        containers.stop(container.id)
    drifted = _post(plane, "/deployments", {"environment": "dev", "tag": "v2"})
    assert drifted["status"] == "queued"
    redeployed = _finished(plane, drifted, wait_for)
    assert redeployed["status"] == "succeeded", redeployed["error"]
    assert plane.answer(redeployed["url"]) == "v2"
    assert _updates(plane.settings.data_dir, plane.name) > updates

    rolled = _finished(plane, _post(plane, "/rollback", {"environment": "dev"}), wait_for)
    assert rolled["status"] == "succeeded", rolled["error"]
    assert plane.answer(rolled["url"]) == "v1"

    # prod targets gcp: the promote queues; with no Google Cloud credentials (none here,
    # see _no_google_credentials) its job stops at once, saying how to provide them
    promote = plane.api.client.post(
        f"/api/v1/components/default/{plane.name}/promote", json={"from": "dev"}
    )
    assert promote.status_code == 202, promote.text
    promoted = _finished(plane, promote.json(), wait_for)
    assert promoted["status"] == "failed"
    assert promoted["error"].startswith("GcpCredentialsError: ")
    assert "Application Default Credentials" in promoted["error"]
    assert "gcloud auth application-default login" in promoted["error"]

    destroyed = _finished(plane, _post(plane, "/destroy", {"environment": "dev"}), wait_for)
    assert destroyed["status"] == "succeeded", destroyed["error"]
    assert containers.list_containers({COMPONENT: f"default/{plane.name}"}) == []


def _untag(binary: Path, reference: str) -> None:
    """Drop the tag's image name, as a cleanup outside Shipyard would; the running
    container keeps its image (podman: ``untag``; docker's forced ``rmi`` of a name that
    a container uses only untags it)."""
    args = ["untag", reference] if binary.name == "podman" else ["rmi", "--force", reference]
    subprocess.run([str(binary), *args], check=True, capture_output=True, timeout=60)


def _forced_deploy(plane: Any, tag: str, wait_for: Any) -> tuple[dict[str, Any], list[str]]:
    """A forced deploy of ``tag``, followed live: its final record and its events' kinds."""
    requested = _post(plane, "/deployments", {"environment": "dev", "tag": tag, "force": True})
    messages = _follow(plane, requested["id"])
    kinds = [json.loads(m.data)["kind"] for m in messages if m.event != "end"]
    return _finished(plane, requested, wait_for), kinds


def _first_engine_event(kinds: list[str]) -> int:
    return next(i for i, kind in enumerate(kinds) if kind.startswith("engine."))


def test_a_forced_deploy_runs_one_up_after_its_records_and_a_vanished_image_is_rebuilt(
    control_plane: Any, wait_for: Any
) -> None:
    plane = control_plane
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    plane.release("v1")
    first = _post(plane, "/deployments", {"environment": "dev", "tag": "v1"})
    built = _finished(plane, first, wait_for)
    assert built["status"] == "succeeded", built["error"]
    updates = _updates(plane.settings.data_dir, plane.name)

    redeployed, kinds = _forced_deploy(plane, "v1", wait_for)

    assert redeployed["status"] == "succeeded", redeployed["error"]
    assert plane.answer(redeployed["url"]) == "v1"
    # The job knew its program before its up started: its records and its image lookup
    # come before the engine's first event, and it ran exactly one update.
    first_engine = _first_engine_event(kinds)
    assert kinds.index("deployment.running") < kinds.index("build.skipped") < first_engine
    assert kinds[-1] == "deployment.succeeded"
    assert _updates(plane.settings.data_dir, plane.name) == updates + 1

    containers = detect_container_engine(plane.settings)
    _untag(
        containers.binary,
        image_reference(
            f"default/{plane.name}", "v1", instance=instance_id(plane.settings.data_dir)
        ),
    )
    rebuilt, kinds = _forced_deploy(plane, "v1", wait_for)

    assert rebuilt["status"] == "succeeded", rebuilt["error"]
    assert plane.answer(rebuilt["url"]) == "v1"
    # The build came first, then the one up: no update was started and given up.
    first_engine = _first_engine_event(kinds)
    assert "build.skipped" not in kinds
    assert kinds.index("build.started") < kinds.index("build.succeeded") < first_engine
    assert _updates(plane.settings.data_dir, plane.name) == updates + 2
    assert _failed_updates(plane.settings.data_dir, plane.name) == []


def _failed_updates(settings_dir: Path, name: str) -> list[str]:
    """The names of the stack's Pulumi history records whose update did not succeed."""
    return [
        path.name
        for path in (settings_dir / "state").rglob(f"*{name}*/dev/*.history.json")
        if json.loads(path.read_text())["result"] != "succeeded"
    ]


def _events(plane: Any, deployment_id: int) -> list[dict[str, Any]]:
    """The deployment's stored events, in order."""
    text = plane.api.client.get(
        f"/api/v1/deployments/{deployment_id}/events", params={"follow": "false"}
    ).text
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ") and '"kind"' in line
    ]


def _remove_image(binary: Path, reference: str) -> None:
    """Remove the image as a cleanup outside Shipyard would (``rmi --force``: podman also
    removes the containers that run it)."""
    subprocess.run(
        [str(binary), "rmi", "--force", "--", reference],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_release_whose_image_was_removed_is_rebuilt_from_its_commit_by_rollback_and_provision(
    control_plane: Any, wait_for: Any
) -> None:
    plane = control_plane
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    v1_commit = plane.release("v1")
    v1 = _finished(
        plane, _post(plane, "/deployments", {"environment": "dev", "tag": "v1"}), wait_for
    )
    assert v1["status"] == "succeeded", v1["error"]
    plane.release("v2")
    v2 = _finished(
        plane, _post(plane, "/deployments", {"environment": "dev", "tag": "v2"}), wait_for
    )
    assert v2["status"] == "succeeded", v2["error"]
    containers = detect_container_engine(plane.settings)
    v1_image = image_reference(
        f"default/{plane.name}", "v1", instance=instance_id(plane.settings.data_dir)
    )
    _remove_image(containers.binary, v1_image)
    # The repository moves on meanwhile (a new commit, tagged v3): the rebuild takes the
    # release's tag, which still names the commit it was built from.
    plane.release("v3")

    rolled = _finished(plane, _post(plane, "/rollback", {"environment": "dev"}), wait_for)

    assert rolled["status"] == "succeeded", rolled["error"]
    assert plane.answer(rolled["url"]) == "v1"
    assert containers.inspect_image(v1_image).labels[COMMIT] == v1_commit
    events = _events(plane, rolled["id"])
    kinds = [event["kind"] for event in events]
    rebuild = next(event for event in events if event["kind"] == "release.rebuild")
    assert rebuild["data"]["commit"] == v1_commit
    assert "v1" in rebuild["message"] and "no image here any more" in rebuild["message"]
    assert kinds.index("release.rebuild") < kinds.index("build.started")
    assert kinds.index("build.succeeded") < _first_engine_event(kinds)

    # Removed again, while it runs: a provision builds it again instead of failing.
    _remove_image(containers.binary, v1_image)

    provisioned = _finished(plane, _post(plane, "/provision", {"environment": "dev"}), wait_for)

    assert provisioned["status"] == "succeeded", provisioned["error"]
    assert plane.answer(provisioned["url"]) == "v1"
    assert containers.inspect_image(v1_image).labels[COMMIT] == v1_commit
    kinds = [event["kind"] for event in _events(plane, provisioned["id"])]
    assert "release.rebuild" in kinds and "build.succeeded" in kinds
    # The stack's current release is the rebuilt image's (a new digest), not the gone one.
    component = plane.api.client.get(f"/api/v1/components/default/{plane.name}").json()
    [dev] = [env for env in component["environments"] if env["environment"] == "dev"]
    assert provisioned["release"] not in (None, rolled["release"])
    assert dev["current_release"] == provisioned["release"]
    assert dev["current_tag"] == "v1"
