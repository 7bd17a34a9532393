"""Migrations: from empty to head, idempotent, and exactly what the models declare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from shipyard.settings import Settings
from shipyard.store import current_revision, head_revision, open_database, upgrade
from shipyard.store.models import Base


def test_upgrade_creates_every_table_on_an_empty_database(database_url: str) -> None:
    database = open_database(database_url)
    try:
        assert current_revision(database) is None

        assert upgrade(database) == head_revision()

        tables = set(inspect(database).get_table_names())
        assert tables >= set(Base.metadata.tables) | {"alembic_version"}
    finally:
        database.dispose()


def test_upgrade_again_changes_nothing(database: Engine) -> None:
    assert upgrade(database) == head_revision()
    assert upgrade(database) == head_revision()


def test_migrations_match_the_models(database: Engine) -> None:
    with database.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_concurrent_upgrades_wait_for_each_other(database_url: str) -> None:
    """Two processes (two servers starting at once) on one empty database."""
    script = "import sys; from shipyard.store import open_database, upgrade; "
    script += "database = open_database(sys.argv[1]); print(upgrade(database)); database.dispose()"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [stdout.strip() for stdout, _ in outputs] == [head_revision()] * 2


def test_upgrade_from_settings_uses_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    assert upgrade(settings) == head_revision()

    assert (tmp_path / "data" / "shipyard.db").exists()
