"""Several "hosts" (data dirs, hostnames) sharing one throwaway PostgreSQL: its store,
its job queue and, through Pulumi's ``postgres://`` backend, its Pulumi state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.settings import Settings
from shipyard.testing.fixtures import database, database_url, postgres_cluster
from shipyard.testing.hosts import PASSPHRASE
from shipyard.testing.postgres import PostgresCluster
from shipyard.testing.pulumi_fixtures import kill_stray_providers, pulumi_cli

__all__ = [
    "HostSettings",
    "database",
    "database_url",
    "kill_stray_providers",
    "postgres_cluster",
    "pulumi_cli",
]


@pytest.fixture
def shared_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database of the cluster: the store and the Pulumi state of every host."""
    with postgres_cluster.database() as url:
        yield url


@pytest.fixture
def shared_passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    """The documented shared secrets setting: ``SHIPYARD_SECRETS_PROVIDER=passphrase`` and
    the passphrase in ``PULUMI_CONFIG_PASSPHRASE`` on every host."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    return PASSPHRASE


HostSettings = Callable[[str], Settings]


@pytest.fixture
def host_settings(tmp_path: Path, shared_url: str) -> HostSettings:
    """A host's settings by name: its own data dir, the shared database, no explicit
    backend (so the state goes to the database's server), the shared passphrase."""

    def make(name: str) -> Settings:
        data_dir = tmp_path / name
        data_dir.mkdir(exist_ok=True)
        return Settings(
            data_dir=data_dir,
            database_url=shared_url,
            backend_url=None,
            secrets_provider="passphrase",
            pulumi=None,
        )

    return make
