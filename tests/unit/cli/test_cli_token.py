"""``shipyard token`` and ``shipyard audit``, the installed console script, against a real
API server (SQLite): what an admin types to issue, list, revoke and rotate tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shipyard.testing.api import (
    Api,
    one_json_object,
    run_cli,
    serve_sqlite_api,
    settings_environment,
)

SHIPYARD = Path(sys.executable).with_name("shipyard")
Result = subprocess.CompletedProcess[str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with serve_sqlite_api(tmp_path) as served:
        yield served


def shipyard(api: Api, *args: str, token: str | None = None) -> Result:
    env = {
        **settings_environment(api.settings),
        "SHIPYARD_DATABASE_URL": api.settings.database_url or "",
        "SHIPYARD_SERVER": api.url,
        "SHIPYARD_TOKEN": token or api.token,
    }
    return run_cli(env, *args)


def test_create_prints_the_secret_once_and_ls_never(api: Api) -> None:
    created = one_json_object(
        shipyard(
            api,
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "deployer",
            "--team",
            "payments",
            "--team",
            "group:default/search",
            "--expires",
            "30d",
            "--output",
            "json",
        )
    )
    assert created["secret"].startswith("shp_")
    assert created["teams"] == ["group:default/payments", "group:default/search"]
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)

    text = shipyard(api, "token", "create", "--role", "viewer")
    assert text.returncode == 0, text.stderr
    secret = text.stdout.strip()
    assert secret.startswith("shp_") and "\n" not in secret
    assert "shown this once" in text.stderr
    ok = httpx.get(f"{api.url}/api/v1/components", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200

    listing = one_json_object(shipyard(api, "token", "ls", "--output", "json"))
    names = [item["name"] for item in listing["items"]]
    assert names[0] == "admin" and "ci" in names and len(names) == 3
    assert created["secret"] not in json.dumps(listing) and secret not in json.dumps(listing)
    table = shipyard(api, "token", "ls")
    lines = [" ".join(line.split()) for line in table.stdout.splitlines()]
    assert f"{created['id']} ci deployer teams group:default/payments,group:default/search" in (
        " ".join(line.split()[:5]) for line in lines
    )


def test_revoke_stops_a_token_and_audit_shows_it(api: Api) -> None:
    created = one_json_object(
        shipyard(api, "token", "create", "--role", "viewer", "--name", "laptop", "-o", "json")
    )
    revoked = one_json_object(
        shipyard(api, "token", "revoke", str(created["id"]), "--output", "json")
    )
    assert revoked["live"] is False
    refused = shipyard(api, "component", "ls", token=created["secret"])
    assert refused.returncode == 4, refused.stderr

    page = one_json_object(shipyard(api, "audit", "--action", "token.", "--output", "json"))
    assert [(r["action"], r["actor"]) for r in page["items"]] == [
        ("token.revoke", "admin"),
        ("token.create", "admin"),
    ]
    recent = one_json_object(shipyard(api, "audit", "--since", "1h", "-o", "json"))
    assert len(recent["items"]) == 2
    text = shipyard(api, "audit")
    assert "admin token.revoke token" in " ".join(text.stdout.split())


def test_a_viewer_cannot_issue_tokens(api: Api) -> None:
    viewer = one_json_object(shipyard(api, "token", "create", "--role", "viewer", "-o", "json"))
    refused = shipyard(api, "token", "create", "--role", "admin", token=viewer["secret"])
    assert refused.returncode == 4
    assert "admin role" in " ".join(refused.stderr.split())


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--role", "root"), "give one of viewer, deployer, admin"),
        (("--role", "viewer", "--expires", "soon"), "e.g. 30d"),
        (("--role", "deployer"), "at least one team"),
    ],
)
def test_a_bad_create_says_what_to_fix(api: Api, args: tuple[str, ...], fragment: str) -> None:
    result = shipyard(api, "token", "create", *args)
    assert result.returncode != 0
    assert fragment in " ".join(result.stderr.split())


def test_rotate_admin_rewrites_the_token_file_and_the_old_token_stops(api: Api) -> None:
    token_file = api.settings.data_dir / "admin-token"
    old = token_file.read_text().strip()
    result = one_json_object(shipyard(api, "token", "rotate-admin", "--output", "json"))
    new = token_file.read_text().strip()
    assert result["token_file"] == str(token_file)
    assert new != old and old not in json.dumps(result) and new not in json.dumps(result)
    assert token_file.stat().st_mode & 0o077 == 0
    refused = shipyard(api, "token", "ls", token=old)
    assert refused.returncode == 4
    assert shipyard(api, "token", "ls", token=new).returncode == 0
