"""``shipyard provision|preview|rollback|promote|destroy|cancel``, the installed console
script, against a real API server (SQLite, no worker: what the CLI prints is the recorded
request, still queued). A subprocess, since the in-process server logs to stdout too."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.store import models, transaction
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import create_deployment, set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.environments import get_environment
from shipyard.store.releases import ensure_release
from shipyard.store.stacks import ensure_stack
from shipyard.testing.api import Api, one_json_object, run_cli, serve_sqlite_api
from shipyard.testing.samples import write_component

SHIPYARD = Path(sys.executable).with_name("shipyard")
Result = subprocess.CompletedProcess[str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with serve_sqlite_api(tmp_path, source_roots=[tmp_path]) as served:
        write_component(tmp_path / "orders", "orders-api")
        registered = served.client.post(
            "/api/v1/components", json={"path": str(tmp_path / "orders")}
        )
        assert registered.status_code == 201, registered.text
        yield served


def shipyard(api: Api, *args: str) -> Result:
    env = {
        **os.environ,
        "SHIPYARD_SERVER": api.url,
        "SHIPYARD_TOKEN": api.token,
        "SHIPYARD_DATA_DIR": str(api.settings.data_dir / "client"),
    }
    return run_cli(env, *args)


def message(result: Result) -> str:
    return " ".join(result.stderr.split())


def ran(api: Api, tag: str) -> int:
    """Record ``tag`` as deployed and running in dev (what a worker would have done)."""
    with transaction(api.database) as session:
        component = get_component_by_ref(session, "default", "orders-api")
        environment = get_environment(session, "dev")
        release = ensure_release(
            session,
            component,
            environment,
            image=f"localhost/default/orders-api:{tag}",
            image_digest="sha256:" + tag.encode().hex().ljust(64, "0"),
            desired_state={"port": 8080},
            tag=tag,
        )
        deployment = create_deployment(
            session, ensure_stack(session, component, environment), release=release
        )
        set_deployment_status(
            session, deployment, DeploymentStatus.succeeded, url="http://127.0.0.1:1"
        )
        return release.id


@pytest.mark.parametrize(
    ("args", "reason", "environment"),
    [
        (["provision", "orders-api", "--env", "dev"], "provision", "dev"),
        (["preview", "default/orders-api", "--env", "dev", "--tag", "v1.0.0"], "preview", "dev"),
        (["destroy", "orders-api", "--env", "staging", "--yes"], "destroy", "staging"),
    ],
)
def test_each_operation_prints_one_json_object_its_queued_deployment(
    api: Api, args: list[str], reason: str, environment: str
) -> None:
    deployment = one_json_object(shipyard(api, *args, "--output", "json"))

    assert (deployment["reason"], deployment["status"]) == (reason, "queued")
    assert (deployment["component"], deployment["environment"]) == (
        "default/orders-api",
        environment,
    )
    assert deployment["job"] is not None


def test_rollback_and_promote_print_the_release_they_deploy(api: Api) -> None:
    v1 = ran(api, "v1.0.0")
    ran(api, "v1.1.0")

    rollback = one_json_object(shipyard(api, "rollback", "orders-api", "-e", "dev", "-o", "json"))
    promote = one_json_object(
        shipyard(api, "promote", "orders-api", "--from", "dev", "--to", "staging", "-o", "json")
    )
    text = shipyard(api, "promote", "orders-api", "--from", "dev")

    assert (rollback["reason"], rollback["release"], rollback["tag"]) == ("rollback", v1, "v1.0.0")
    assert rollback["force"] is True
    assert (promote["reason"], promote["environment"], promote["tag"]) == (
        "promote",
        "staging",
        "v1.1.0",
    )
    assert text.returncode == 0, text.stderr
    assert "promote default/orders-api v1.1.0 -> staging queued" in text.stdout


def test_destroy_without_yes_exits_2_and_asks_for_it(api: Api) -> None:
    refused = shipyard(api, "destroy", "orders-api", "--env", "dev")

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "pass --yes to confirm" in message(refused)
    with transaction(api.database, read_only=True) as session:
        assert session.query(models.Deployment).count() == 0


def test_cancel_a_queued_deployment_prints_it_cancelled(api: Api) -> None:
    queued = one_json_object(shipyard(api, "provision", "orders-api", "-e", "dev", "-o", "json"))
    other = one_json_object(shipyard(api, "provision", "orders-api", "-e", "staging", "-o", "json"))

    cancelled = one_json_object(shipyard(api, "cancel", str(queued["id"]), "--output", "json"))
    text = shipyard(api, "cancel", str(other["id"]))

    assert (cancelled["id"], cancelled["status"]) == (queued["id"], "cancelled")
    assert text.returncode == 0, text.stderr
    assert f"deployment {other['id']}: provision" in text.stdout
    assert "cancelled" in text.stdout
    assert api.client.get(f"/api/v1/deployments/{other['id']}").json()["status"] == "cancelled"


def test_refusals_exit_with_the_documented_codes_and_the_servers_detail(api: Api) -> None:
    ghost = shipyard(api, "provision", "ghost", "--env", "dev")
    moon = shipyard(api, "rollback", "orders-api", "--env", "moon")
    backwards = shipyard(api, "promote", "orders-api", "--from", "staging", "--to", "dev")
    nothing = shipyard(api, "rollback", "orders-api", "--env", "dev")
    unknown = shipyard(api, "cancel", "999")
    bad_ref = shipyard(api, "destroy", "a/b/c", "--env", "dev", "--yes")

    assert (ghost.returncode, moon.returncode, unknown.returncode) == (5, 5, 5)
    assert (backwards.returncode, nothing.returncode, bad_ref.returncode) == (1, 1, 2)
    assert "component default/ghost not found" in message(ghost)
    assert "environment moon not found" in message(moon)
    assert "dev does not come after staging" in message(backwards)
    assert "no earlier release in dev" in message(nothing)
    assert all(r.stdout == "" for r in (ghost, moon, backwards, nothing, unknown, bad_ref))
