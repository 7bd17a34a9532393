"""On PostgreSQL, appending a job's events notifies ``shipyard_job_events`` with the job's
id, delivered only when the transaction commits (the live streams' wake-up)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from shipyard.jobs import JobKind, enqueue
from shipyard.store import transaction
from shipyard.store.events import NewEvent, append_event, append_events

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def listening(database: Engine) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("LISTEN shipyard_job_events")
        yield connection


def _received(connection: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return [
        n.payload for n in connection.notifies(timeout=0.5) if n.channel == "shipyard_job_events"
    ]


def test_a_committed_event_notifies_its_job_a_rolled_back_one_does_not(
    database: Engine, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    with transaction(database) as session:
        job = enqueue(session, JobKind.deploy, "default/a/dev").id
    assert _received(listening) == []

    with pytest.raises(RuntimeError), transaction(database) as session:
        append_event(session, job, "log", "never committed")
        raise RuntimeError("rolled back")
    assert _received(listening) == []

    with transaction(database) as session:
        append_event(session, job, "log", "one")
        append_events(session.connection(), job, [NewEvent("log", "two"), NewEvent("log", "3")])
    assert _received(listening) == [str(job)]  # one per transaction and job
