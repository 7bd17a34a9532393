"""The default Pulumi state of a PostgreSQL installation, and the shared secrets setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine._environment import base_environment
from shipyard.settings import Settings, shared_state_url


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (
            "postgresql+psycopg://shipyard@db.internal:5433/shipyard",
            "postgres://shipyard@db.internal:5433/shipyard?sslmode=prefer&table=pulumi_state",
        ),
        (
            "postgresql://u@db/s?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
            "postgres://u@db/s?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&table=pulumi_state",
        ),
        # A table named in the URL is not the caller's to choose.
        ("postgresql://u@db/s?table=users", "postgres://u@db/s?sslmode=prefer&table=pulumi_state"),
        ("postgresql+psycopg://u:secret@db/s", None),  # a password never goes into it
        ("sqlite:////srv/shipyard.db", None),
        ("mysql://u@db/s", None),
    ],
)
def test_the_shared_state_url_follows_the_database_url(
    database_url: str, expected: str | None
) -> None:
    assert shared_state_url(database_url) == expected


def test_postgresql_puts_the_state_beside_the_store_unless_told_otherwise(tmp_path: Path) -> None:
    url = "postgresql+psycopg://shipyard@db.internal/shipyard"
    settings = Settings(data_dir=tmp_path, database_url=url, backend_url=None)
    assert settings.state_backend_url == shared_state_url(url)

    explicit = Settings(data_dir=tmp_path, database_url=url, backend_url="s3://bucket/state")
    assert explicit.state_backend_url == "s3://bucket/state"

    sqlite = Settings(data_dir=tmp_path, database_url=None, backend_url=None)
    assert sqlite.state_backend_url == (tmp_path / "state").resolve().as_uri()


def test_a_host_whose_state_is_on_its_disk_keeps_it_there(tmp_path: Path) -> None:
    # An installation that moved its store to PostgreSQL earlier keeps its stacks where
    # they are: an empty backend would make Pulumi create every resource again.
    (tmp_path / "state" / ".pulumi" / "stacks").mkdir(parents=True)
    url = "postgresql+psycopg://shipyard@db.internal/shipyard"
    settings = Settings(data_dir=tmp_path, database_url=url, backend_url=None)
    assert settings.state_backend_url == (tmp_path / "state").resolve().as_uri()


def test_the_shared_passphrase_reaches_the_cli_only_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "shared")
    monkeypatch.setenv("PGPASSWORD", "db-password")
    backend = "postgres://shipyard@db/shipyard?sslmode=prefer&table=pulumi_state"

    shared = base_environment(backend, "passphrase")
    assert shared["PULUMI_CONFIG_PASSPHRASE"] == "shared"
    assert shared["PGPASSWORD"] == "db-password"

    generated = base_environment(backend, None)  # the host's own passphrase file
    assert "PULUMI_CONFIG_PASSPHRASE" not in generated
    local = base_environment("file:///srv/state", None)
    assert "PGPASSWORD" not in local and "PULUMI_CONFIG_PASSPHRASE" not in local
