"""A job process's events: given without waiting for the database, stored in order, a
burst in few commits, a failure to store them reported (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, event, update

from shipyard.jobs import JobKind, enqueue
from shipyard.jobs._child import _EventWriter
from shipyard.jobs.errors import EventsNotStoredError
from shipyard.store import transaction
from shipyard.store.events import append_event, list_events
from shipyard.store.models import Job

BURST = 200


def _job(database: Engine) -> int:
    with transaction(database) as session:
        return enqueue(session, JobKind.deploy, "default/app/dev", {}).id


def _commits(database: Engine) -> list[int]:
    counted: list[int] = []
    event.listen(database, "commit", lambda _connection: counted.append(1))
    return counted


def test_events_given_while_the_database_is_busy_wait_for_it_not_the_job(
    database: Engine,
) -> None:
    job_id = _job(database)
    with transaction(database) as session:
        append_event(session, job_id, "started", "an event of the worker's first")
    commits = _commits(database)
    writer = _EventWriter(database, job_id)
    busy = threading.Event()
    release = threading.Event()

    def hold_the_job_row() -> None:  # a writer that takes its time, on the same row
        with transaction(database) as session:
            session.execute(update(Job).where(Job.id == job_id).values(attempts=Job.attempts))
            busy.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_job_row)
    holder.start()
    try:
        assert busy.wait(30)
        given = time.monotonic()
        for index in range(BURST):
            writer.append("test.burst", f"event {index}", "info", {"index": index})
        assert time.monotonic() - given < 5.0, "giving events waited for the database"
    finally:
        release.set()
        holder.join()
    writer.close()

    with transaction(database, read_only=True) as session:
        stored = list(list_events(session, job_id))
    assert [e.message for e in stored[1:]] == [f"event {i}" for i in range(BURST)]
    assert [e.seq for e in stored] == list(range(1, BURST + 2))
    assert stored[-1].data == {"index": BURST - 1}
    # Held up by the busy row, the burst went in together: the holder's commit, then at
    # most the first event's and the rest's.
    assert len(commits) <= 3


def test_events_that_cannot_be_stored_fail_the_next_flush_and_append(database: Engine) -> None:
    writer = _EventWriter(database, job_id=987_654)  # no such job

    writer.append("test.lost", "nowhere to go", "info", None)
    with pytest.raises(EventsNotStoredError, match="job 987654 could not be stored"):
        writer.flush()
    with pytest.raises(EventsNotStoredError):
        writer.append("test.lost", "still nowhere", "info", None)
    with pytest.raises(EventsNotStoredError):
        writer.close()
