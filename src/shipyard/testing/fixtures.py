"""pytest fixtures for a migrated database on SQLite and on PostgreSQL.

A test directory's ``conftest.py`` imports the ones it uses::

    from shipyard.testing.fixtures import database, database_url, postgres_cluster  # noqa: F401

Every test that asks for ``database`` then runs twice: on a SQLite file and on a fresh
database of one throwaway PostgreSQL cluster, shared by the whole test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shipyard.store import open_database, upgrade
from shipyard.testing.postgres import PostgresCluster, throwaway_cluster

__all__ = ["BACKENDS", "database", "database_url", "postgres_cluster", "shared_cluster"]

BACKENDS = ("sqlite", "postgresql")


class _SharedCluster:
    """One cluster for every test directory of the session, stopped after its last user."""

    def __init__(self) -> None:
        self._users = 0
        self._stack = ExitStack()
        self._cluster: PostgresCluster | None = None

    @contextmanager
    def use(self) -> Iterator[PostgresCluster]:
        if self._cluster is None:
            self._cluster = self._stack.enter_context(throwaway_cluster())
        self._users += 1
        try:
            yield self._cluster
        finally:
            self._users -= 1
            if self._users == 0:
                self._cluster = None
                self._stack.close()


shared_cluster = _SharedCluster().use


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    with shared_cluster() as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shipyard.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    with cluster.database() as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head; disposed afterwards."""
    database = open_database(database_url)
    try:
        upgrade(database)
        yield database
    finally:
        database.dispose()
