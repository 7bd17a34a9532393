"""The API served by a real uvicorn on a free loopback port, on SQLite and PostgreSQL.

``api`` runs a test twice (SQLite, PostgreSQL), for tests that touch the store;
``sqlite_api`` runs it once, for behaviour that does not depend on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.testing.api import Api, serve_api
from shipyard.testing.fixtures import database, database_url, postgres_cluster
from shipyard.testing.samples import write_platform

__all__ = ["api", "database", "database_url", "postgres_cluster", "sqlite_api"]

SettingsFor = Callable[[str], Settings]


@pytest.fixture
def settings_for(tmp_path: Path) -> SettingsFor:
    def build(database_url: str) -> Settings:
        return Settings(
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            source_roots=[tmp_path],
            database_url=database_url,
            platform=write_platform(tmp_path / "platform.yaml"),
        )

    return build


@pytest.fixture
def api(settings_for: SettingsFor, database: Engine) -> Iterator[Api]:
    with serve_api(
        settings_for(database.url.render_as_string(hide_password=False)), database
    ) as api:
        yield api


@pytest.fixture
def sqlite_api(settings_for: SettingsFor, tmp_path: Path) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    database = open_database(url)
    try:
        with serve_api(settings_for(url), database) as api:
            yield api
    finally:
        database.dispose()
