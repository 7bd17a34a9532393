"""The Backstage catalog kept in sync: the periodic sync registers new components, updates
changed ones and marks removed ones orphaned (shown in the API, never deleted); the manual
sync does the same; ``POST /api/v1/hooks/backstage`` syncs one entity at once. Against a
real local HTTP server shaped like Backstage's by-query API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from standardwebhooks.webhooks import Webhook

from shipyard.services.catalog_sync import CatalogSyncer, sync_catalog
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.backstage_catalog import FakeCatalog, component_entity, fake_catalog
from shipyard.testing.fixtures import database, database_url, postgres_cluster
from shipyard.testing.samples import write_platform

__all__ = ["database", "database_url", "postgres_cluster"]

TOKEN = "catalog-token"
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLWJhY2tzdGFnZS1ob29r"


def entity(name: str, max_instances: str = "2") -> dict[str, Any]:
    return component_entity(name, {"shipyard.dev/max-instances": max_instances})


@pytest.fixture
def backstage() -> Iterator[FakeCatalog]:
    with fake_catalog(TOKEN) as catalog:
        yield catalog


def settings(tmp_path: Path, database: Engine, backstage: FakeCatalog, **more: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=database.url.render_as_string(hide_password=False),
        platform=write_platform(tmp_path / "platform.yaml"),
        backstage_url=backstage.url,
        backstage_token=TOKEN,
        webhook_secret=SECRET,
        **more,
    )


@pytest.fixture
def api(tmp_path: Path, database: Engine, backstage: FakeCatalog) -> Iterator[Api]:
    with serve_api(settings(tmp_path, database, backstage), database) as served:
        yield served


def shown(api: Api) -> dict[str, dict[str, Any]]:
    response = api.client.get("/api/v1/components")
    assert response.status_code == 200, response.text
    return {item["ref"]: item for item in response.json()["items"]}


def test_a_sync_registers_updates_and_marks_removed_components_orphaned_never_deleting(
    api: Api, backstage: FakeCatalog
) -> None:
    backstage.put(entity("orders"))
    backstage.put(entity("billing"))
    first = sync_catalog(api.settings, api.database)
    assert first.result.created == ["default/billing", "default/orders"]
    assert first.orphaned == []

    backstage.put(entity("orders", "3"))  # changed
    backstage.remove("billing")  # removed from the catalog
    backstage.put(entity("search"))  # new
    second = sync_catalog(api.settings, api.database)
    assert second.result.created == ["default/search"]
    assert second.result.updated == ["default/orders"]
    assert second.orphaned == ["default/billing"]
    components = shown(api)
    assert set(components) == {"default/billing", "default/orders", "default/search"}
    assert components["default/billing"]["orphaned"] is True
    assert components["default/billing"]["orphaned_at"] is not None
    assert components["default/orders"]["orphaned"] is False
    detail = api.client.get("/api/v1/components/default/orders").json()
    assert detail["descriptor"]["metadata"]["annotations"]["shipyard.dev/max-instances"] == "3"

    again = sync_catalog(api.settings, api.database)  # nothing new: nothing marked twice
    assert again.orphaned == [] and again.restored == []
    backstage.put(entity("billing"))  # back in the catalog
    back = sync_catalog(api.settings, api.database)
    assert back.restored == ["default/billing"]
    assert shown(api)["default/billing"]["orphaned"] is False


def test_a_registration_by_path_is_never_orphaned_by_a_catalog_sync(
    api: Api, backstage: FakeCatalog, tmp_path: Path
) -> None:
    with transaction(api.database) as session:
        session.add(models.Component(name="local", descriptor=entity("local"), source="/srv/x"))
    backstage.put(entity("orders"))
    assert sync_catalog(api.settings, api.database).orphaned == []
    assert shown(api)["default/local"]["orphaned"] is False


def test_the_manual_sync_marks_orphans_too(api: Api, backstage: FakeCatalog) -> None:
    backstage.put(entity("orders"))
    backstage.put(entity("billing"))
    assert api.client.post("/api/v1/components/sync", json={}).status_code == 200
    backstage.remove("orders")
    response = api.client.post("/api/v1/components/sync", json={})
    assert response.status_code == 200, response.text
    assert response.json()["orphaned"] == ["default/orders"]
    assert shown(api)["default/orders"]["orphaned"] is True


def test_the_periodic_sync_runs_at_its_interval_and_not_at_all_when_zero(
    tmp_path: Path, database: Engine, backstage: FakeCatalog
) -> None:
    backstage.put(entity("orders"))
    every_hour = settings(tmp_path, database, backstage, backstage_sync_interval=3600)
    syncer = CatalogSyncer(every_hour, database)
    synced = syncer.tick()
    assert synced is not None and synced.result.created == ["default/orders"]
    reads = len(backstage.requests)
    assert syncer.tick() is None  # within the hour: no read
    assert len(backstage.requests) == reads
    never = CatalogSyncer(
        settings(tmp_path, database, backstage, backstage_sync_interval=0), database
    )
    assert not never.enabled and never.tick() is None
    assert len(backstage.requests) == reads


def hook(
    api: Api, body: dict[str, Any], *, secret: str = SECRET, message_id: str | None = None
) -> httpx.Response:
    data = json.dumps(body)
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, data),
        "Content-Type": "application/json",
    }
    return httpx.post(
        f"{api.url}/api/v1/hooks/backstage", content=data, headers=headers, timeout=30
    )


def _count(api: Api) -> int:
    with transaction(api.database, read_only=True) as session:
        return int(session.scalar(select(func.count(models.Component.id))) or 0)


def test_the_backstage_hook_syncs_one_entity_at_once(api: Api, backstage: FakeCatalog) -> None:
    backstage.put(entity("orders"))
    backstage.put(entity("billing"))
    response = hook(api, {"entityRef": "component:default/orders"})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == ["default/orders"]
    assert set(shown(api)) == {"default/orders"}  # that entity only

    backstage.remove("orders")
    gone = hook(api, {"entityRef": "component:default/orders"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["orphaned"] == ["default/orders"]
    assert shown(api)["default/orders"]["orphaned"] is True


def test_the_backstage_hook_refuses_bad_signatures_and_replays_changing_nothing(
    api: Api, backstage: FakeCatalog
) -> None:
    backstage.put(entity("orders"))
    wrong = hook(api, {"entityRef": "component:default/orders"}, secret="whsec_d3Jvbmc=")
    assert assert_problem(wrong, 401)["type"] == "urn:shipyard:problem:webhook-signature"
    unsigned = httpx.post(
        f"{api.url}/api/v1/hooks/backstage",
        json={"entityRef": "component:default/orders"},
        headers={"Authorization": f"Bearer {api.token}"},  # a bearer opens nothing here
        timeout=30,
    )
    assert_problem(unsigned, 401)
    assert _count(api) == 0
    first = hook(api, {"entityRef": "component:default/orders"}, message_id="msg_1")
    assert first.status_code == 200
    replay = hook(api, {"entityRef": "component:default/orders"}, message_id="msg_1")
    assert assert_problem(replay, 409)["type"] == "urn:shipyard:problem:webhook-replay"
    not_a_component = hook(api, {"entityRef": "group:default/t"})
    assert_problem(not_a_component, 422)
