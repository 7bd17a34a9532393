"""Fencing by lease token, and recovery flags across a stack's jobs (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from shipyard.jobs import (
    JobKind,
    JobState,
    LeaseLostError,
    claim,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    mark_cancelled,
    reap_expired,
)
from shipyard.jobs.queue import cancel, check_lease, release
from shipyard.store import transaction
from shipyard.store.events import append_event, list_events
from shipyard.store.models import Job
from shipyard.testing.clock import FakeClock

LEASE = 30.0
# A worker id is host:pid:index: after a restart with the same pid, or once the worker
# reached the database again, the same id claims the job anew. Only the token tells
# its two attempts apart.
WORKER = "host-a:4242:0"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _enqueue(
    database: Engine,
    clock: FakeClock,
    stack_key: str = "default/web/prod",
    kind: JobKind = JobKind.deploy,
) -> int:
    with transaction(database) as session:
        return enqueue(session, kind, stack_key, {}, clock=clock, max_attempts=5).id


def _enqueue_rerun(database: Engine, clock: FakeClock) -> int:
    """A job that runs again after a lost lease (a delivery; a deployment's job fails)."""
    return _enqueue(database, clock, "delivery:1", JobKind.deliver)


def _claim(database: Engine, clock: FakeClock, worker: str = WORKER) -> Job:
    job = claim(database, worker, LEASE, clock=clock)
    assert job is not None
    return job


def _job(database: Engine, job_id: int) -> Job:
    with transaction(database, read_only=True) as session:
        return get_job(session, job_id)


def _lose_the_lease(database: Engine, clock: FakeClock) -> None:
    clock.advance(LEASE + 1)
    assert reap_expired(database, clock=clock)


def test_every_claim_bumps_the_lease_token(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue_rerun(database, clock)
    first = _claim(database, clock)
    _lose_the_lease(database, clock)
    second = _claim(database, clock)

    assert (first.id, second.id) == (job_id, job_id)
    assert second.lease_token == first.lease_token + 1
    with transaction(database, read_only=True) as session:
        started = [e for e in list_events(session, job_id) if e.kind == "started"]
    assert [e.data["lease_token"] for e in started] == [first.lease_token, second.lease_token]


def test_an_attempt_that_lost_its_lease_writes_nothing(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue_rerun(database, clock)
    old = _claim(database, clock).lease_token
    _lose_the_lease(database, clock)
    new = _claim(database, clock).lease_token  # the same worker id, a new attempt

    with pytest.raises(LeaseLostError):
        heartbeat(database, job_id, WORKER, LEASE, lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError):
        complete(
            database, job_id, WORKER, {"from": "the old attempt"}, lease_token=old, clock=clock
        )
    with pytest.raises(LeaseLostError):
        fail(database, job_id, WORKER, "old", lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError):
        mark_cancelled(database, job_id, WORKER, lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError):
        release(database, job_id, WORKER, "old", lease_token=old, clock=clock)
    job = _job(database, job_id)
    assert (job.state, job.result, job.lease_token) == (JobState.running, None, new)

    heartbeat(database, job_id, WORKER, LEASE, lease_token=new, clock=clock)
    complete(database, job_id, WORKER, {"from": "the new attempt"}, lease_token=new, clock=clock)
    assert _job(database, job_id).result == {"from": "the new attempt"}


def test_a_deployment_attempt_that_lost_its_lease_writes_nothing_to_its_failed_job(
    database: Engine, clock: FakeClock
) -> None:
    job_id = _enqueue(database, clock)
    old = _claim(database, clock).lease_token
    _lose_the_lease(database, clock)  # the job fails: interrupted
    error = _job(database, job_id).error
    following = _enqueue(database, clock)
    new = _claim(database, clock)  # the same worker id, the stack's next job

    with pytest.raises(LeaseLostError):
        heartbeat(database, job_id, WORKER, LEASE, lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError):
        complete(
            database, job_id, WORKER, {"from": "the old attempt"}, lease_token=old, clock=clock
        )
    with pytest.raises(LeaseLostError):
        fail(database, job_id, WORKER, "old", lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError):
        release(database, job_id, WORKER, "old", lease_token=old, clock=clock)
    with pytest.raises(LeaseLostError), transaction(database) as session:
        append_event(session, job_id, "note", "written after the lease was lost")
        check_lease(session, job_id, old)
    job = _job(database, job_id)
    assert (job.state, job.result, job.error) == (JobState.failed, None, error)
    assert error is not None and error.startswith("interrupted:")
    assert (new.id, new.needs_recovery) == (following, True)


def test_a_job_process_write_under_a_lost_lease_is_rolled_back(
    database: Engine, clock: FakeClock
) -> None:
    job_id = _enqueue_rerun(database, clock)
    old = _claim(database, clock).lease_token

    with transaction(database) as session:  # while the lease holds: written
        append_event(session, job_id, "note", "written under the lease")
        check_lease(session, job_id, old)

    _lose_the_lease(database, clock)
    with pytest.raises(LeaseLostError), transaction(database) as session:
        append_event(session, job_id, "note", "written after the lease was lost")
        check_lease(session, job_id, old)

    new = _claim(database, clock).lease_token
    with pytest.raises(LeaseLostError), database.begin() as connection:
        check_lease(connection, job_id, old)
    with database.begin() as connection:
        check_lease(connection, job_id, new)
    with transaction(database, read_only=True) as session:
        notes = [e.message for e in list_events(session, job_id) if e.kind == "note"]
    assert notes == ["written under the lease"]


def test_the_next_job_of_an_interrupted_stack_recovers_it(
    database: Engine, clock: FakeClock
) -> None:
    with transaction(database) as session:
        dead = enqueue(session, JobKind.deploy, "default/web/prod", {}, clock=clock, max_attempts=1)
        dead_id = dead.id
    _claim(database, clock, "host-b:1:0")
    clock.advance(LEASE + 1)
    [reaped] = reap_expired(database, clock=clock)  # its host died: no attempts left
    assert reaped.state is JobState.failed

    skipped = _enqueue(database, clock)  # cancelled before it ran: it proves nothing
    with transaction(database) as session:
        cancel(session, skipped, clock=clock)
    after = _enqueue(database, clock)
    other_stack = _enqueue(database, clock, "default/api/prod")

    taken = _claim(database, clock)
    assert (taken.id, taken.needs_recovery) == (after, True)
    assert _job(database, dead_id).needs_recovery  # the record of what happened stays
    other = _claim(database, clock)
    assert (other.id, other.needs_recovery) == (other_stack, False)

    complete(database, after, WORKER, {}, lease_token=taken.lease_token, clock=clock)
    calm = _enqueue(database, clock)
    assert not _claim(database, clock).needs_recovery
    complete(database, calm, WORKER, {}, clock=clock)


def test_a_process_that_died_leaves_its_stack_to_recover(
    database: Engine, clock: FakeClock
) -> None:
    first = _enqueue(database, clock)
    token = _claim(database, clock).lease_token
    fail(
        database,
        first,
        WORKER,
        "job process died",
        interrupted=True,
        lease_token=token,
        clock=clock,
    )
    second = _enqueue(database, clock)
    job = _claim(database, clock)
    assert (job.id, job.needs_recovery) == (second, True)

    fail(database, second, WORKER, "a plain failure", lease_token=job.lease_token, clock=clock)
    third = _enqueue(database, clock)
    job = _claim(database, clock)
    assert (job.id, job.needs_recovery) == (third, False)
