"""Migration 0004 on SQLite and PostgreSQL: the jobs table takes ``deliver`` jobs and
still refuses unknown kinds, and keeps its one-running-job-per-lane index (SQLite
rebuilds the table to change a CHECK)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from shipyard.testing.fixtures import database, database_url, postgres_cluster

__all__ = ["database", "database_url", "postgres_cluster"]

_COLUMNS = {
    "payload": "'{}'",
    "attempts": "0",
    "max_attempts": "1",
    "cancel_requested": "false",
    "needs_recovery": "false",
    "last_event_seq": "0",
    "lease_token": "0",
}


def _insert(database: Engine, kind: str, lane: str, state: str = "queued") -> None:
    """A plain INSERT (no model in between to check the kind first), filling whichever
    required columns this revision's jobs table has."""
    present = {column["name"] for column in inspect(database).get_columns("jobs")}
    fixed = {name: value for name, value in _COLUMNS.items() if name in present}
    statement = text(
        f"INSERT INTO jobs (kind, stack_key, state, created_at, {', '.join(fixed)}) "
        f"VALUES (:kind, :lane, :state, :now, {', '.join(fixed.values())})"
    )
    with database.begin() as connection:
        connection.execute(
            statement, {"kind": kind, "lane": lane, "state": state, "now": datetime.now(UTC)}
        )


def test_the_jobs_table_takes_deliver_jobs_and_only_known_kinds(database: Engine) -> None:
    _insert(database, "deliver", "delivery:1")
    _insert(database, "deploy", "default/shop/dev")
    with pytest.raises(IntegrityError):
        _insert(database, "mine-bitcoin", "x")
    [check] = [
        found
        for found in inspect(database).get_check_constraints("jobs")
        if found["name"] == "ck_jobs_job_kind"
    ]
    for kind in ("provision", "build", "deploy", "preview", "refresh", "destroy", "deliver"):
        assert f"'{kind}'" in check["sqltext"]


def test_one_running_job_per_lane_still_holds(database: Engine) -> None:
    _insert(database, "deliver", "delivery:7", state="running")
    with pytest.raises(IntegrityError):
        _insert(database, "deliver", "delivery:7", state="running")
    _insert(database, "deliver", "delivery:8", state="running")
