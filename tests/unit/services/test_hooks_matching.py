"""A webhook's components are found across every page of the catalog, each once, on
SQLite and PostgreSQL (the walk goes by key, one index lookup a page, not by offset)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from shipyard.services import hooks
from shipyard.store import transaction
from shipyard.store.components import get_component_by_ref, upsert_component
from shipyard.testing.fixtures import database, database_url, postgres_cluster

__all__ = ["database", "database_url", "postgres_cluster"]


def _descriptor(name: str, slug: str) -> dict[str, object]:
    return {"metadata": {"name": name, "annotations": {"github.com/project-slug": slug}}}


def test_matching_components_walks_every_page(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks, "_PAGE", 2)
    with transaction(database) as session:
        for namespace in ("default", "payments", "web"):
            for name in ("api", "shop", "worker"):
                slug = "acme/shop" if name == "shop" or namespace == "web" else f"acme/{name}"
                upsert_component(session, namespace, name, descriptor=_descriptor(name, slug))

    with transaction(database, read_only=True) as session:
        keys = frozenset(hooks.component_keys(get_component_by_ref(session, "default", "shop")))
        found = [c.ref for c in hooks.matching_components(session, keys)]

    assert keys == {"github-slug:acme/shop"}
    assert found == ["default/shop", "payments/shop", "web/api", "web/shop", "web/worker"]
