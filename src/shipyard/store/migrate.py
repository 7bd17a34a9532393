"""Bring a database's schema to the newest revision with Alembic, configured in code."""

from __future__ import annotations

import threading

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shipyard.settings import Settings
from shipyard.store._database import open_database
from shipyard.store.errors import MigrationError

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]

SCRIPT_LOCATION = "shipyard.store:migrations"

# Alembic keeps the running migration in module globals: one at a time per process.
# Across processes, SQLite's write lock and a PostgreSQL advisory lock (env.py) serialise.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(database: Engine) -> str | None:
    with database.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(target: Settings | Engine, revision: str = "head") -> str:
    """Run the migrations up to ``revision`` in one transaction; return the revision reached.

    Safe to run again, and from several processes at once (they wait for each other).
    """
    database = open_database(target) if isinstance(target, Settings) else target
    config = alembic_config()
    try:
        with _ALEMBIC_LOCK, database.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        reached = current_revision(database)
    except SQLAlchemyError as exc:
        raise MigrationError(
            f"could not migrate the database at {database.url.render_as_string()}: {exc}"
        ) from exc
    finally:
        if database is not target:
            database.dispose()
    return reached or "base"
