"""The engine: SQLite tuned for concurrent writers; one transaction per ``transaction()``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from shipyard.settings import Settings
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.models import Environment, Stack


def test_settings_default_to_sqlite_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    database = open_database(Settings(data_dir=tmp_path / "data"))
    try:
        with database.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert database.url.database == str((tmp_path / "data" / "shipyard.db").resolve())
    finally:
        database.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    database = open_database("postgresql://shipyard@db.invalid/shipyard")
    try:
        assert database.url.drivername == "postgresql+psycopg"
    finally:
        database.dispose()


def test_foreign_keys_are_enforced(database: Engine) -> None:
    with pytest.raises(IntegrityError), transaction(database) as session:
        session.add(
            Stack(
                key="a/b/dev", component_id=404, environment_id=404, project="b", stack_name="dev"
            )
        )
        session.flush()


def test_concurrent_read_modify_write_transactions_serialise(database: Engine) -> None:
    """Read, then write (FOR UPDATE, implied on SQLite): no lost update, no lock error."""
    with transaction(database) as session:
        session.add(Environment(name="counter", target="local", position=0))
    threads, rounds, errors = 4, 10, []

    def increment() -> None:
        try:
            for _ in range(rounds):
                with transaction(database) as session:
                    env = session.scalars(select(Environment).with_for_update()).one()
                    env.position += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=increment) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    with transaction(database, read_only=True) as session:
        assert session.scalars(select(Environment.position)).one() == threads * rounds


def test_datetimes_come_back_aware_in_utc(database: Engine) -> None:
    local = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    with transaction(database) as session:
        env = Environment(name="dev", target="local", created_at=local)
        session.add(env)
    with transaction(database, read_only=True) as session:
        stored = session.scalars(select(Environment.created_at)).one()

    assert stored == local
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == datetime(2031, 5, 6, 5, 8, 9, tzinfo=UTC)


def test_naive_datetimes_are_refused(database: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), transaction(database) as session:
        session.add(Environment(name="dev", target="local", created_at=datetime(2031, 1, 1)))
        session.flush()


def test_a_failed_transaction_leaves_nothing(database: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(database) as session:
        session.add(Environment(name="dev", target="local"))
        session.flush()
        raise RuntimeError("boom")

    with transaction(database, read_only=True) as session:
        assert session.scalars(select(Environment)).all() == []


def test_upgrade_accepts_an_engine_it_does_not_dispose(database: Engine) -> None:
    upgrade(database)
    with database.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
