"""Syncing components from a Backstage catalog, through the API (SQLite and PostgreSQL) and
the ``shipyard`` console script, against a real local HTTP server shaped like Backstage's
by-query API (items, totalItems, pageInfo.nextCursor; see tests/unit/catalog)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.backstage_catalog import FakeCatalog, component_entity, fake_catalog

SHIPYARD = Path(sys.executable).with_name("shipyard")
TOKEN = "s3cret"


def _pages() -> list[list[dict[str, Any]]]:
    return [
        [
            component_entity("orders-api", {"shipyard.dev/template": "web-service"}),
            component_entity("plain", {"github.com/project-slug": "a/b"}),  # not Shipyard's
        ],
        [
            component_entity("billing", {"shipyard.dev/max-instances": "3"}),
            component_entity("big", {"shipyard.dev/max-instances": "50"}),  # the contract: 10
            component_entity("Bad Name", {"shipyard.dev/port": "80"}),  # not a valid name
        ],
    ]


@pytest.fixture
def backstage() -> Iterator[FakeCatalog]:
    with fake_catalog(TOKEN, _pages()) as catalog:
        yield catalog


SettingsFor = Callable[[str], Settings]
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def settings_for(settings_for: SettingsFor, request: pytest.FixtureRequest) -> SettingsFor:
    """The conftest's settings, allowing the fake catalog of the test (and the unreachable
    one) as an admin would with SHIPYARD_BACKSTAGE_CATALOG_URLS."""
    allowed = [UNREACHABLE]
    if "backstage" in request.fixturenames:
        url = request.getfixturevalue("backstage").url
        allowed += [url, url.replace("127.0.0.1", "localhost")]

    def build(database_url: str) -> Settings:
        return settings_for(database_url).model_copy(update={"backstage_catalog_urls": allowed})

    return build


def _sync(api: Api, backstage: FakeCatalog, token: str | None = TOKEN) -> dict[str, Any]:
    body = {"backstage_url": backstage.url, "token": token}
    response = api.client.post("/api/v1/components/sync", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_sync_creates_then_leaves_unchanged_then_updates(api: Api, backstage: FakeCatalog) -> None:
    first = _sync(api, backstage)
    backstage.pages[0][0]["metadata"]["etag"] = "e2"  # a re-stitch in Backstage: no change
    second = _sync(api, backstage)
    backstage.annotate("billing", "shipyard.dev/max-instances", "4")
    third = _sync(api, backstage)

    assert first["catalog"] == backstage.url
    assert first["created"] == ["default/billing", "default/orders-api"]
    assert first["updated"] == first["unchanged"] == []
    assert second["created"] == second["updated"] == []
    assert second["unchanged"] == ["default/billing", "default/orders-api"]
    assert third["updated"] == ["default/billing"]
    assert third["unchanged"] == ["default/orders-api"]
    assert first["rejected"] == second["rejected"] == third["rejected"]

    rejected = {entry["ref"]: entry["problems"] for entry in first["rejected"]}
    assert rejected.keys() == {"default/big", "default/bad name"}
    dev, staging = rejected["default/big"]  # one problem per environment, as registering
    for problem in (dev, staging):
        assert problem["file"] == f"{backstage.url} component:default/big"
        assert problem["line"] is None and problem["column"] is None
        assert problem["path"] == 'metadata.annotations["shipyard.dev/max-instances"]'
    assert "above the maximum 10 in environment dev" in dev["message"]
    [bad] = rejected["default/bad name"]
    assert bad["path"] == "metadata.name" and "'Bad Name'" in bad["message"]

    listed = api.client.get("/api/v1/components").json()["items"]
    assert [item["ref"] for item in listed] == ["default/billing", "default/orders-api"]
    shown = api.client.get("/api/v1/components/default/billing").json()
    assert shown["source"] == f"{backstage.url} component:default/billing"
    assert shown["owner"] == "group:default/t"
    metadata = shown["descriptor"]["metadata"]
    assert metadata["annotations"]["shipyard.dev/max-instances"] == "4"
    assert "uid" not in metadata and "etag" not in metadata
    assert "relations" not in shown["descriptor"]
    orders = api.client.get("/api/v1/components/default/orders-api").json()
    assert orders["template"] == "web-service"
    assert set(backstage.authorizations) == {f"Bearer {TOKEN}"}


def test_a_token_backstage_refuses_is_a_502_problem(
    sqlite_api: Api, backstage: FakeCatalog
) -> None:
    body = {"backstage_url": backstage.url, "token": "wrong"}
    response = sqlite_api.client.post("/api/v1/components/sync", json=body)

    problem = assert_problem(response, 502, instance="/api/v1/components/sync")
    assert problem["type"] == "urn:shipyard:problem:backstage-auth"
    assert "refused the request (401)" in problem["detail"]
    assert "check the token" in problem["detail"]
    assert "wrong" not in problem["detail"]
    assert sqlite_api.client.get("/api/v1/components").json()["items"] == []


def test_an_unreachable_catalog_is_a_502_problem(sqlite_api: Api) -> None:
    body = {"backstage_url": "http://127.0.0.1:9"}
    response = sqlite_api.client.post("/api/v1/components/sync", json=body)

    problem = assert_problem(response, 502)
    assert problem["type"] == "urn:shipyard:problem:backstage"
    assert "cannot reach the Backstage catalog at http://127.0.0.1:9" in problem["detail"]


def test_without_a_catalog_anywhere_the_request_is_invalid(sqlite_api: Api) -> None:
    response = sqlite_api.client.post("/api/v1/components/sync", json={})

    problem = assert_problem(response, 422)
    assert "SHIPYARD_BACKSTAGE_URL" in problem["detail"]


def test_a_catalog_no_admin_configured_is_refused_before_anything_is_read(
    sqlite_api: Api, backstage: FakeCatalog
) -> None:
    for url in ("http://127.0.0.1:1", "http://169.254.169.254", backstage.url + ".evil.example"):
        response = sqlite_api.client.post(
            "/api/v1/components/sync", json={"backstage_url": url, "token": TOKEN}
        )
        problem = assert_problem(response, 422)
        assert "is not a Backstage catalog this server may read" in problem["detail"]
        assert "SHIPYARD_BACKSTAGE_CATALOG_URLS" in problem["detail"]
    assert backstage.authorizations == []


def test_an_upstream_error_says_its_status_not_its_body(
    sqlite_api: Api, backstage: FakeCatalog
) -> None:
    backstage.failure = (418, {"error": "internal-detail-AKIA-secret"})
    body = {"backstage_url": backstage.url, "token": TOKEN}
    response = sqlite_api.client.post("/api/v1/components/sync", json=body)

    problem = assert_problem(response, 502)
    assert "answered 418" in problem["detail"]
    assert "internal-detail" not in response.text and "AKIA" not in response.text


def test_the_configured_token_goes_to_the_configured_catalog_only(
    settings_for: SettingsFor, tmp_path: Path, backstage: FakeCatalog
) -> None:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    settings = settings_for(url).model_copy(
        update={"backstage_url": backstage.url + "/", "backstage_token": TOKEN}
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            configured = api.client.post("/api/v1/components/sync", json={})
            elsewhere = api.client.post(
                "/api/v1/components/sync",
                json={"backstage_url": backstage.url.replace("127.0.0.1", "localhost")},
            )
    finally:
        database.dispose()

    assert configured.status_code == 200, configured.text
    assert configured.json()["created"] == ["default/billing", "default/orders-api"]
    assert assert_problem(elsewhere, 502)["type"] == "urn:shipyard:problem:backstage-auth"
    assert backstage.authorizations[-1] is None


def _cli(api: Api, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SHIPYARD_") or key == "SHIPYARD_PYTHON"
    }
    env.update(HOME=str(tmp_path / "home"), SHIPYARD_DATA_DIR=str(tmp_path / "client"))
    return subprocess.run(
        [str(SHIPYARD), "component", "sync", "--server", api.url, "--token", api.token, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_cli_syncs_and_reports_each_component(
    sqlite_api: Api, backstage: FakeCatalog, tmp_path: Path
) -> None:
    source = ("--backstage-url", backstage.url, "--backstage-token", TOKEN)
    as_json = _cli(sqlite_api, tmp_path, *source, "--output", "json")
    as_text = _cli(sqlite_api, tmp_path, *source)
    refused = _cli(sqlite_api, tmp_path, "--backstage-url", backstage.url)

    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["created"] == ["default/billing", "default/orders-api"]
    assert [entry["ref"] for entry in result["rejected"]] == ["default/bad name", "default/big"]
    assert as_text.returncode == 0, as_text.stderr
    lines = as_text.stdout.splitlines()
    assert "unchanged default/billing" in lines and "unchanged default/orders-api" in lines
    assert any(
        line.startswith('rejected default/big metadata.annotations["shipyard.dev/max-instances"]')
        for line in lines
    )
    assert refused.returncode == 1
    assert "check the token" in refused.stderr + refused.stdout
