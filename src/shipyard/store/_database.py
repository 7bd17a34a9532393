"""The SQLAlchemy engine and sessions: SQLite tuned for concurrent writers, or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from shipyard._files import PRIVATE_FILE_MODE, ensure_private_dir
from shipyard.settings import Settings

__all__ = ["READ_ONLY", "open_database", "session_factory", "transaction"]

READ_ONLY = "shipyard_read_only"
"""Execution option: this transaction only reads (SQLite then begins it DEFERRED)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000


def open_database(settings: Settings | str | URL, **kwargs: Any) -> Engine:
    """An engine for ``Settings.sqlalchemy_url`` (or a URL); no connection is made yet.

    SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` for every
    transaction not marked :data:`READ_ONLY`, so concurrent writers queue up on the busy
    timeout instead of failing when a read lock would have to become a write lock.
    """
    url = make_url(settings.sqlalchemy_url if isinstance(settings, Settings) else settings)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    if url.database and url.database != ":memory:":
        _private_database_file(Path(url.database))
    database = sa.create_engine(url, **kwargs)
    event.listen(database, "connect", _sqlite_on_connect)
    event.listen(database, "begin", _sqlite_on_begin)
    return database


def _private_database_file(path: Path) -> None:
    """The folder 0700 and the database file 0600 before SQLite opens it (its WAL and
    shared-memory files take the database file's mode)."""
    ensure_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    mode = path.stat().st_mode & 0o777
    if mode & ~PRIVATE_FILE_MODE:
        path.chmod(mode & PRIVATE_FILE_MODE)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 must not emit its own BEGIN: _sqlite_on_begin emits the right one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def session_factory(database: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    bind = database.execution_options(**{READ_ONLY: True}) if read_only else database
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def transaction(database: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any error."""
    with session_factory(database, read_only=read_only).begin() as session:
        yield session
