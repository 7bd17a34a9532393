"""Known secrets, the whole flow, then a search: no secret outside the one place it belongs.

The admin token, a token issued to a deployer, the Pulumi passphrase Shipyard generates,
a PostgreSQL password and an OIDC client secret are set; ``shipyard serve`` (its API,
workers and tag watchers) registers, provisions and deploys a component on the local
target (podman, Pulumi, Caddy). Then every file of the data dir (but the secret's own
file), the server's log, every API answer of the flow, every event of every deployment,
the audit record and every row of the database are searched for each secret.
"""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from plane_world import ControlPlane, open_control_plane

from shipyard.api.bootstrap import ADMIN_TOKEN_FILE
from shipyard.store import transaction
from shipyard.store.auth import create_user, hash_token, issue_token
from shipyard.store.enums import Role
from shipyard.testing.api import settings_environment
from shipyard.testing.fixtures import postgres_cluster
from shipyard.testing.postgres import PostgresCluster

pytestmark = pytest.mark.integration

__all__ = ["postgres_cluster"]  # the fixture, for this module

_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}
PASSPHRASE_FILE = "pulumi-passphrase"


@pytest.fixture(autouse=True)
def _no_google_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")


class Recorder:
    """Every answer the flow received, as text."""

    def __init__(self) -> None:
        self.answers: list[str] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.answers.append(f"{response.request.method} {response.request.url}\n{response.text}")


@pytest.fixture
def database_password() -> str:
    return "dbpw-" + secrets.token_hex(12)


@pytest.fixture
def plane(
    tmp_path: Path, postgres_cluster: PostgresCluster, database_password: str
) -> Iterator[ControlPlane]:
    with (
        postgres_cluster.database_with_password(database_password) as url,
        open_control_plane(
            tmp_path,
            served=True,
            settings_overrides={
                "database_url": url,
                "oidc_client_id": "shipyard-web",
                "oidc_client_secret": "oidc-secret-" + secrets.token_hex(12),
            },
        ) as plane,
    ):
        yield plane


def _finished(plane: ControlPlane, deployment: dict[str, Any], wait_for: Any) -> dict[str, Any]:
    path = f"/api/v1/deployments/{deployment['id']}"
    wait_for(
        lambda: plane.api.client.get(path).json()["status"] in _FINISHED,
        f"deployment {deployment['id']} to finish",
        240,
    )
    body: dict[str, Any] = plane.api.client.get(path).json()
    return body


def _post(plane: ControlPlane, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = plane.api.client.post(f"/api/v1/components/default/{plane.name}{path}", json=body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def _database_text(plane: ControlPlane) -> str:
    """Every row of every table, as text (tokens are stored hashed; audit rows too)."""
    lines = []
    with plane.api.database.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            rows = connection.execute(sa.text(f'SELECT * FROM "{table}"'))
            lines.extend(f"{table}: {row!r}" for row in rows)
    return "\n".join(lines)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def test_no_secret_leaves_its_place(plane: ControlPlane, wait_for: Any) -> None:
    settings, data = plane.settings, plane.settings.data_dir
    recorder = Recorder()
    plane.api.client.event_hooks["response"].append(recorder)
    with transaction(plane.api.database) as session:
        deployer = create_user(session, "deployer-" + secrets.token_hex(4))
        issued = issue_token(session, deployer, "ci", role=Role.deployer).secret

    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    provisioned = _finished(plane, _post(plane, "/provision", {"environment": "dev"}), wait_for)
    assert provisioned["status"] == "succeeded", provisioned["error"]
    plane.release("v1")
    deployed = _finished(
        plane, _post(plane, "/deployments", {"environment": "dev", "tag": "v1"}), wait_for
    )
    assert deployed["status"] == "succeeded", deployed["error"]
    assert plane.answer(deployed["url"]) == "v1"
    with httpx.Client(base_url=plane.api.url, trust_env=False, timeout=30) as other:
        as_deployer = other.get("/api/v1/components", headers={"Authorization": f"Bearer {issued}"})
        assert as_deployer.status_code == 200, as_deployer.text
        recorder(as_deployer)
        refused = other.get("/api/v1/audit", headers={"Authorization": f"Bearer {issued}"})
        assert refused.status_code == 403
        recorder(refused)
    for deployment in (provisioned, deployed):
        events = plane.api.client.get(
            f"/api/v1/deployments/{deployment['id']}/events", params={"follow": "false"}
        )
        assert "event: end" in events.text
    plane.api.client.get("/api/v1/audit")
    plane.api.client.get("/api/v1/tokens")
    plane.api.client.get(f"/api/v1/components/default/{plane.name}")

    passphrase = (data / PASSPHRASE_FILE).read_text().strip()
    known = {
        "the admin token": (plane.api.token, {data / ADMIN_TOKEN_FILE}),
        "the issued token": (issued, set()),
        "the Pulumi passphrase": (passphrase, {data / PASSPHRASE_FILE}),
        "the database password": (_password(settings.database_url), set()),
        "the OIDC client secret": (str(settings.oidc_client_secret), set()),
    }
    places: dict[str, str] = {}
    for path in _files(data):
        places[f"file {path.relative_to(data)}"] = path.read_bytes().decode(errors="replace")
    for index, answer in enumerate(recorder.answers):
        places[f"API answer #{index}: {answer.splitlines()[0]}"] = answer
    places["the database"] = _database_text(plane)

    owned = {name: {f"file {p.relative_to(data)}" for p in own} for name, (_, own) in known.items()}
    secret_of = {name: secret for name, (secret, _) in known.items()}
    assert _leaks(secret_of, owned, places) == []

    # The search sees what it looks for: each secret where it belongs, the issued token's
    # hash and this flow's rows in the database the server used, the server's log, the
    # settings the server was given.
    assert plane.api.token in places[f"file {ADMIN_TOKEN_FILE}"]
    assert passphrase in places[f"file {PASSPHRASE_FILE}"]
    assert hash_token(issued) in places["the database"]
    assert plane.name in places["the database"]
    assert "Shipyard is listening" in places["file serve.log"]
    assert len(recorder.answers) > 10
    given = settings_environment(settings)
    assert _password(given["SHIPYARD_DATABASE_URL"]) == known["the database password"][0]
    assert given["SHIPYARD_OIDC_CLIENT_SECRET"] == known["the OIDC client secret"][0]
    assert _leaks({"x": "n33dle"}, {"x": set()}, {"here": "a n33dle", "there": "no"}) == [
        "x found in here"
    ]

    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "state").stat().st_mode) == 0o700
    for own in (data / ADMIN_TOKEN_FILE, data / PASSPHRASE_FILE):
        assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert json.loads(registered.text)["components"]


def _password(url: str | None) -> str:
    password = sa.engine.make_url(str(url)).password
    assert password, "the test needs a database URL with a password"
    return str(password)


def _leaks(
    secrets_by_name: dict[str, str], owned: dict[str, set[str]], places: dict[str, str]
) -> list[str]:
    return [
        f"{name} found in {place}"
        for name, secret in secrets_by_name.items()
        for place, text in places.items()
        if secret in text and place not in owned[name]
    ]
