"""``shipyard subscription``, the installed console script, against a real API server
(SQLite): what an admin types to subscribe a URL, list, and delete it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.testing.api import Api, serve_sqlite_api, settings_environment

SHIPYARD = Path(sys.executable).with_name("shipyard")
Result = subprocess.CompletedProcess[str]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    with serve_sqlite_api(tmp_path) as api:
        yield api


def shipyard(api: Api, *args: str) -> Result:
    env = {
        **settings_environment(api.settings),
        "SHIPYARD_SERVER": api.url,
        "SHIPYARD_TOKEN": api.token,
    }
    return subprocess.run(
        [str(SHIPYARD), "subscription", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_create_ls_rm(served: Api) -> None:
    created = shipyard(
        served,
        "create",
        "https://chat.example.com/shipyard",
        "--event",
        "deployment.failed",
        "--event",
        "build.failed",
        "--environment",
        "dev",
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("whsec_")  # stdout holds the secret alone: pipe it to a vault
    assert "shown this once" in created.stderr

    listed = shipyard(served, "ls", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert item["url"] == "https://chat.example.com/shipyard"
    assert item["events"] == ["deployment.failed", "build.failed"]
    assert item["environment"] == "dev"
    assert secret not in listed.stdout

    text = shipyard(served, "ls")
    assert text.stdout.split() == [
        str(item["id"]),
        "https://chat.example.com/shipyard",
        "deployment.failed,build.failed",
        "environment",
        "dev",
    ]

    deliveries = shipyard(served, "deliveries", str(item["id"]), "--output", "json")
    assert deliveries.returncode == 0, deliveries.stderr
    assert json.loads(deliveries.stdout)["items"] == []  # nothing happened yet

    removed = shipyard(served, "rm", str(item["id"]))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"deleted {item['id']}")
    assert json.loads(shipyard(served, "ls", "--output", "json").stdout)["items"] == []


def test_refusals_say_why(served: Api) -> None:
    metadata = shipyard(served, "create", "http://169.254.169.254/latest/meta-data/")
    assert metadata.returncode != 0
    assert "169.254.169.254" in metadata.stderr and "not a public address" in metadata.stderr
    unknown = shipyard(served, "create", "https://x.example.com/", "--event", "deploy.done")
    assert unknown.returncode != 0
    assert "deploy.done" in unknown.stderr and "deployment.failed" in unknown.stderr
    missing = shipyard(served, "rm", "999")
    assert missing.returncode != 0 and "999" in missing.stderr
