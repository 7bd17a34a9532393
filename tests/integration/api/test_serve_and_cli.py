"""``shipyard serve`` as operators run it, and the CLI as its client, on both databases."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shipyard.store import models, transaction
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import append_event
from shipyard.testing.samples import write_component, write_platform

pytestmark = pytest.mark.integration

SHIPYARD = Path(sys.executable).with_name("shipyard")
TIMEOUT = 60.0


@dataclass
class Server:
    process: subprocess.Popen[str]
    data_dir: Path
    url: str
    env: dict[str, str]

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SHIPYARD), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**self.env, **env},
        )

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--output", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        stdout, _ = self.process.communicate(timeout=TIMEOUT)
        return stdout


def _client_config(data_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((data_dir / "client.json").read_text()))
    except (OSError, ValueError):
        return None


def _healthy(data_dir: Path) -> bool:
    config = _client_config(data_dir)
    if config is None:
        return False
    try:
        return httpx.get(f"{config['server']}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _start(tmp_path: Path, database_url: str, wait_for: Any) -> Server:
    data_dir = tmp_path / "data"
    (data_dir / "client.json").unlink(missing_ok=True)
    env = {
        **os.environ,
        "SHIPYARD_DATA_DIR": str(data_dir),
        "SHIPYARD_DATABASE_URL": database_url,
        "SHIPYARD_LOG_FORMAT": "json",
        "SHIPYARD_SOURCE_ROOTS": json.dumps([str(tmp_path)]),
    }
    env.pop("SHIPYARD_SERVER", None)
    env.pop("SHIPYARD_TOKEN", None)
    platform = write_platform(tmp_path / "platform.yaml")
    process = subprocess.Popen(
        # No workers: these tests play the worker's part by writing its records.
        [str(SHIPYARD), "serve", "--port", "0", "--platform", str(platform), "--workers", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    wait_for(lambda: _healthy(data_dir) or process.poll() is not None, "shipyard serve", TIMEOUT)
    assert process.poll() is None, "shipyard serve exited"
    config = _client_config(data_dir)
    assert config is not None
    return Server(process, data_dir, config["server"], env)


@pytest.fixture
def server(tmp_path: Path, database: Engine, wait_for: Any) -> Iterator[Server]:
    running = _start(tmp_path, database.url.render_as_string(hide_password=False), wait_for)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


def test_first_start_writes_a_private_admin_token_and_a_client_config(
    server: Server, tmp_path: Path, database: Engine, wait_for: Any
) -> None:
    token_file = server.data_dir / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert _client_config(server.data_dir) == {"server": server.url, "token_file": str(token_file)}
    assert server.url.startswith("http://127.0.0.1:")
    token = token_file.read_text()

    first_output = server.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit says what ended it.
    assert server.process.returncode in (0, -signal.SIGTERM)
    again = _start(tmp_path, database.url.render_as_string(hide_password=False), wait_for)
    second_output = again.stop()

    assert f"Admin token written to {token_file}" in first_output
    assert "Admin token written" not in second_output
    assert f"listening on {again.url}" in second_output
    assert token_file.read_text() == token


def test_components_are_registered_listed_and_shown_through_the_cli(
    server: Server, tmp_path: Path
) -> None:
    write_component(tmp_path / "orders", "orders-api")
    write_component(tmp_path / "billing", "billing", namespace="payments")

    registered = server.cli_json("component", "register", str(tmp_path / "orders"))
    text = server.cli("component", "register", str(tmp_path / "billing" / "catalog-info.yaml"))
    listed = server.cli_json("component", "ls")
    shown = server.cli_json("component", "show", "orders-api")
    shown_namespaced = server.cli_json("component", "show", "payments/billing")

    assert [c["ref"] for c in registered["components"]] == ["default/orders-api"]
    assert text.returncode == 0 and "registered payments/billing" in text.stdout
    assert [c["ref"] for c in listed["items"]] == ["default/orders-api", "payments/billing"]
    assert shown["descriptor"]["metadata"]["name"] == "orders-api"
    assert shown_namespaced["owner"] == "group:default/team-orders"


def test_deploy_follow_prints_one_json_object_carrying_the_url(
    server: Server, tmp_path: Path, database: Engine, wait_for: Any
) -> None:
    write_component(tmp_path / "orders", "orders-api")
    server.cli_json("component", "register", str(tmp_path / "orders"))
    deploy = subprocess.Popen(
        [
            str(SHIPYARD),
            "deploy",
            "orders-api",
            "--env",
            "dev",
            "--tag",
            "v1",
            "--follow",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env,
    )

    def queued() -> models.Deployment | None:
        with transaction(database, read_only=True) as session:
            return session.query(models.Deployment).one_or_none()

    wait_for(lambda: queued() is not None, "the deployment record", TIMEOUT)
    record = queued()
    assert record is not None and record.job_id is not None
    with transaction(database) as session:  # what the deploy worker will do
        append_event(session, record.job_id, "log", "pulumi up", deployment_id=record.id)
        row = session.get_one(models.Deployment, record.id)
        set_deployment_status(
            session, row, DeploymentStatus.succeeded, url="http://orders-api.dev.localhost"
        )
    stdout, stderr = deploy.communicate(timeout=TIMEOUT)

    assert deploy.returncode == 0, stderr
    result = json.loads(stdout)
    assert (result["status"], result["url"]) == ("succeeded", "http://orders-api.dev.localhost")
    status = server.cli_json("status", "orders-api")
    assert status["environments"][0]["url"] == "http://orders-api.dev.localhost"
    logs = server.cli_json("logs", str(record.id))
    assert [event["message"] for event in logs["events"]] == ["pulumi up"]


def test_cli_errors_exit_with_documented_codes(server: Server) -> None:
    unknown = server.cli("component", "show", "ghost")
    bad_token = server.cli("component", "ls", "--token", "shp_wrong")
    unreachable = server.cli("component", "ls", "--server", "http://127.0.0.1:9")
    bad_ref = server.cli("component", "show", "a/b/c")

    assert (unknown.returncode, bad_token.returncode) == (5, 4)
    assert (unreachable.returncode, bad_ref.returncode) == (3, 2)
    assert "component default/ghost not found" in unknown.stderr
    assert "--token" in bad_token.stderr
    assert "cannot reach the Shipyard server at http://127.0.0.1:9" in unreachable.stderr
