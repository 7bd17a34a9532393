"""The job queue in one process, with a fake clock: lanes, leases, cancel, retries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.jobs import (
    Backoff,
    JobKind,
    JobState,
    LeaseLostError,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    mark_cancelled,
    reap_expired,
)
from shipyard.jobs.queue import INTERRUPTED_FAIL_KINDS
from shipyard.store import transaction
from shipyard.store.components import upsert_component
from shipyard.store.deployments import create_deployment, get_deployment
from shipyard.store.enums import DeploymentStatus
from shipyard.store.environments import upsert_environment
from shipyard.store.events import append_event, list_events
from shipyard.store.models import Deployment, Job
from shipyard.store.stacks import ensure_stack
from shipyard.testing.clock import FakeClock

LEASE = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _enqueue(
    database: Engine,
    stack_key: str,
    clock: FakeClock,
    kind: JobKind = JobKind.deploy,
    **kwargs: int,
) -> int:
    with transaction(database) as session:
        return enqueue(session, kind, stack_key, {"n": 1}, clock=clock, **kwargs).id


def _claim(database: Engine, clock: FakeClock, worker: str = "w1") -> int | None:
    job = claim(database, worker, LEASE, clock=clock)
    return None if job is None else job.id


def _job(database: Engine, job_id: int) -> Job:
    with transaction(database, read_only=True) as session:
        return get_job(session, job_id)


def _event_kinds(database: Engine, job_id: int) -> list[str]:
    with transaction(database, read_only=True) as session:
        return [event.kind for event in list_events(session, job_id)]


def test_one_running_job_per_stack_in_enqueue_order(database: Engine, clock: FakeClock) -> None:
    a1, a2 = _enqueue(database, "a", clock), _enqueue(database, "a", clock)
    b1 = _enqueue(database, "b", clock)

    assert _claim(database, clock) == a1
    assert _claim(database, clock) == b1
    assert _claim(database, clock) is None

    complete(database, a1, "w1", {"ok": True}, clock=clock)
    assert _claim(database, clock, "w2") == a2

    job = _job(database, a1)
    assert (job.state, job.result, job.attempts) == (JobState.succeeded, {"ok": True}, 1)
    assert _event_kinds(database, a1) == ["started", "succeeded"]


def test_a_claimers_own_records_commit_with_the_claim_or_not_at_all(
    database: Engine, clock: FakeClock
) -> None:
    first, second = _enqueue(database, "a", clock), _enqueue(database, "b", clock)

    def process_started(session: Session, job: Job) -> None:
        append_event(session, job.id, "process_started", "job process 7 started")

    claimed = claim(database, "w1", LEASE, clock=clock, then=process_started)
    assert claimed is not None and claimed.id == first
    assert _event_kinds(database, first) == ["started", "process_started"]

    def broken(session: Session, job: Job) -> None:
        raise RuntimeError("the claimer failed")

    with pytest.raises(RuntimeError, match="the claimer failed"):
        claim(database, "w1", LEASE, clock=clock, then=broken)
    assert _job(database, second).state is JobState.queued, "no claim without its records"
    assert _event_kinds(database, second) == []
    assert _claim(database, clock) == second


def test_the_database_refuses_a_second_running_job_of_a_stack(database: Engine) -> None:
    clock = FakeClock()
    first, second = _enqueue(database, "a", clock), _enqueue(database, "a", clock)
    with pytest.raises(IntegrityError), transaction(database) as session:
        session.execute(
            update(Job).where(Job.id.in_([first, second])).values(state=JobState.running)
        )


def test_a_claimed_job_is_a_detached_snapshot(database: Engine, clock: FakeClock) -> None:
    _enqueue(database, "a", clock)
    job = claim(database, "w1", LEASE, clock=clock)

    assert job is not None
    assert (job.kind, job.stack_key, job.payload) == (JobKind.deploy, "a", {"n": 1})
    assert job.worker_id == "w1" and job.attempts == 1
    assert job.lease_expires_at == clock.now() + timedelta(seconds=LEASE)


def test_heartbeats_extend_the_lease(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue(database, "a", clock)
    _claim(database, clock)

    for _ in range(5):
        clock.advance(LEASE - 1)
        lease = heartbeat(database, job_id, "w1", LEASE, clock=clock)
        assert lease.expires_at == clock.now() + timedelta(seconds=LEASE)
        assert not lease.cancel_requested

    assert reap_expired(database, clock=clock) == []
    with pytest.raises(LeaseLostError):
        heartbeat(database, job_id, "intruder", LEASE, clock=clock)


def test_an_expired_lease_is_lost_and_a_background_job_requeued_with_an_event(
    database: Engine, clock: FakeClock
) -> None:
    job_id = _enqueue(database, "a", clock, JobKind.deliver)
    later = _enqueue(database, "a", clock, JobKind.deliver)
    _claim(database, clock, "dead-worker")

    clock.advance(LEASE + 1)
    with pytest.raises(LeaseLostError, match="stop the job"):
        heartbeat(database, job_id, "dead-worker", LEASE, clock=clock)
    (reaped,) = reap_expired(database, clock=clock)

    assert reaped.id == job_id
    job = _job(database, job_id)
    assert (job.state, job.worker_id, job.needs_recovery) == (JobState.queued, None, True)
    with transaction(database, read_only=True) as session:
        event = list_events(session, job_id)[-1]
    assert event.kind == "lease_expired" and event.level == "warning"
    assert "worker dead-worker stopped renewing its lease" in event.message
    assert "queued again for attempt 2 of 3" in event.message

    # It runs again before the stack's later jobs; the dead worker can no longer report.
    assert _claim(database, clock, "w2") == job_id
    with pytest.raises(LeaseLostError):
        complete(database, job_id, "dead-worker", clock=clock)
    assert _job(database, job_id).attempts == 2
    complete(database, job_id, "w2", clock=clock)
    assert _job(database, job_id).needs_recovery is False
    assert _claim(database, clock, "w2") == later


def test_a_background_job_whose_attempts_all_died_fails(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue(database, "a", clock, JobKind.deliver, max_attempts=2)
    for worker in ("w1", "w2"):
        assert _claim(database, clock, worker) == job_id
        clock.advance(LEASE + 1)
        reap_expired(database, clock=clock)

    job = _job(database, job_id)
    assert job.state is JobState.failed
    assert job.error is not None and "all 2 attempts used" in job.error
    assert _event_kinds(database, job_id)[-1] == "lease_expired"
    assert _claim(database, clock) is None


def test_cancel_a_queued_job_at_once(database: Engine, clock: FakeClock) -> None:
    first, second = _enqueue(database, "a", clock), _enqueue(database, "a", clock)
    with transaction(database) as session:
        assert cancel(session, first, clock=clock).state is JobState.cancelled

    assert _claim(database, clock) == second
    assert _event_kinds(database, first) == ["cancelled"]


def test_cancel_a_running_job_asks_its_worker_to_stop(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue(database, "a", clock)
    _claim(database, clock)

    with transaction(database) as session:
        assert cancel(session, job_id, clock=clock).state is JobState.running
    lease = heartbeat(database, job_id, "w1", LEASE, clock=clock)
    assert lease.cancel_requested
    mark_cancelled(database, job_id, "w1", clock=clock)

    assert _job(database, job_id).state is JobState.cancelled
    with transaction(database) as session:  # finished: nothing changes
        assert cancel(session, job_id, clock=clock).state is JobState.cancelled
    assert _event_kinds(database, job_id) == ["started", "cancel_requested", "cancelled"]


def test_a_cancelled_job_whose_worker_died_is_not_run_again(
    database: Engine, clock: FakeClock
) -> None:
    job_id = _enqueue(database, "a", clock)
    _claim(database, clock)
    with transaction(database) as session:
        cancel(session, job_id, clock=clock)

    clock.advance(LEASE + 1)
    reap_expired(database, clock=clock)

    assert _job(database, job_id).state is JobState.cancelled


def test_transient_failures_retry_after_a_growing_backoff(
    database: Engine, clock: FakeClock
) -> None:
    backoff = Backoff(base=10, factor=3, maximum=60)
    job_id = _enqueue(database, "a", clock, max_attempts=3)
    later = _enqueue(database, "a", clock)

    for attempt, delay in ((1, 10), (2, 30)):
        assert _claim(database, clock) == job_id
        job = fail(
            database, job_id, "w1", "registry timeout", transient=True, backoff=backoff, clock=clock
        )
        assert job.state is JobState.queued and job.attempts == attempt
        assert job.not_before == clock.now() + timedelta(seconds=delay)

        clock.advance(delay - 1)
        assert _claim(database, clock) is None  # neither the job nor its stack's later ones
        clock.advance(1)

    assert _claim(database, clock) == job_id
    job = fail(
        database, job_id, "w1", "registry timeout", transient=True, backoff=backoff, clock=clock
    )
    assert job.state is JobState.failed and job.attempts == 3
    assert _event_kinds(database, job_id).count("retry_scheduled") == 2
    assert _claim(database, clock) == later


def test_permanent_failures_are_not_retried(database: Engine, clock: FakeClock) -> None:
    job_id = _enqueue(database, "a", clock)
    _claim(database, clock)

    job = fail(database, job_id, "w1", "invalid program", clock=clock)

    assert (job.state, job.error, job.attempts) == (JobState.failed, "invalid program", 1)
    assert _event_kinds(database, job_id)[-1] == "failed"


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=5, factor=2, maximum=60)
    assert [backoff.delay(n).total_seconds() for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


class _LaneFinishingClock(FakeClock):
    """Once armed, its next reading is taken just before another worker completes the
    lane's running job: the race of a claim that waits for the lock a ``complete`` holds."""

    def __init__(self) -> None:
        super().__init__()
        self._finish: tuple[Engine, int] | None = None

    def finish_on_next_read(self, database: Engine, job_id: int) -> None:
        self._finish = (database, job_id)

    def now(self) -> datetime:
        read = super().now()
        if self._finish is not None:
            (database, job_id), self._finish = self._finish, None
            self.advance(1)
            complete(database, job_id, "w1", clock=self)
            self.advance(1)
        return read


def test_a_claim_records_its_start_after_the_lane_s_previous_job_finished(database: Engine) -> None:
    clock = _LaneFinishingClock()
    first, second = _enqueue(database, "a", clock), _enqueue(database, "a", clock)
    assert _claim(database, clock) == first
    clock.finish_on_next_read(database, first)

    assert _claim(database, clock, "w2") == second

    finished, started = _job(database, first).finished_at, _job(database, second).started_at
    assert finished is not None and started is not None
    assert finished <= started


def _deployment_for_new_job(database: Engine, clock: FakeClock, **kwargs: int) -> tuple[int, int]:
    """A deploy job and the deployment it runs, as the API records them."""
    with transaction(database) as session:
        component = upsert_component(session, "default", "greeter", descriptor={})
        environment = upsert_environment(session, "dev", target="local", position=0)
        stack = ensure_stack(session, component, environment)
        job = enqueue(session, JobKind.deploy, stack.key, {}, clock=clock, **kwargs)
        deployment = create_deployment(session, stack, tag="v1", job_id=job.id)
        return job.id, deployment.id


def _deployment(database: Engine, deployment_id: int) -> Deployment:
    with transaction(database, read_only=True) as session:
        return get_deployment(session, deployment_id)


def test_a_deployment_whose_worker_stopped_renewing_its_lease_fails_with_the_reason(
    database: Engine, clock: FakeClock
) -> None:
    job_id, deployment_id = _deployment_for_new_job(database, clock, max_attempts=3)
    later = _enqueue(database, "default/greeter/dev", clock)
    assert _claim(database, clock, "host-a:7:0") == job_id
    expired_at = clock.now() + timedelta(seconds=LEASE)
    clock.advance(LEASE + 1)
    assert [reaped.id for reaped in reap_expired(database, clock=clock)] == [job_id]

    reason = (
        f"interrupted: worker host-a:7:0 stopped renewing its lease at "
        f"{expired_at.isoformat(timespec='seconds')}; the stack is recovered by its next job"
    )
    deployment = _deployment(database, deployment_id)
    assert (deployment.status, deployment.error) == (DeploymentStatus.failed, reason)
    assert deployment.finished_at == clock.now()
    job = _job(database, job_id)
    assert (job.state, job.error, job.attempts) == (JobState.failed, reason, 1)
    assert job.needs_recovery, "the record says the stack needs recovering"
    assert _event_kinds(database, job_id) == ["started", "lease_expired", "failed"]
    # Not run again, though attempts were left: the stack's next job runs, recovering it.
    next_job = claim(database, "host-b:8:0", LEASE, clock=clock)
    assert next_job is not None
    assert (next_job.id, next_job.needs_recovery) == (later, True)


@pytest.mark.parametrize("kind", sorted(INTERRUPTED_FAIL_KINDS))
def test_every_deployment_kind_fails_when_its_lease_expires_and_a_delivery_runs_again(
    database: Engine, clock: FakeClock, kind: JobKind
) -> None:
    deployment_job = _enqueue(database, "default/web/dev", clock, kind)
    delivery = _enqueue(database, "webhooks:outbox", clock, JobKind.deliver)
    assert {_claim(database, clock), _claim(database, clock)} == {deployment_job, delivery}
    clock.advance(LEASE + 1)
    reap_expired(database, clock=clock)

    failed = _job(database, deployment_job)
    assert failed.state is JobState.failed
    assert failed.error is not None and failed.error.startswith("interrupted: worker w1 ")
    again = _job(database, delivery)
    assert (again.state, again.needs_recovery) == (JobState.queued, True)


def test_only_kinds_nobody_watches_run_again_after_a_lost_lease() -> None:
    """A new job kind must be put on one side or the other knowingly."""
    assert set(JobKind) - INTERRUPTED_FAIL_KINDS == {JobKind.build, JobKind.deliver}


def test_a_deployment_whose_job_failed_outside_its_handler_is_failed(
    database: Engine, clock: FakeClock
) -> None:
    job_id, deployment_id = _deployment_for_new_job(database, clock)
    assert _claim(database, clock) == job_id
    fail(database, job_id, "w1", "job process died (exit code -9)", clock=clock)

    deployment = _deployment(database, deployment_id)
    assert (deployment.status, deployment.error) == (
        DeploymentStatus.failed,
        "job process died (exit code -9)",
    )


def test_a_deployment_cancelled_before_its_job_ran_is_cancelled(
    database: Engine, clock: FakeClock
) -> None:
    job_id, deployment_id = _deployment_for_new_job(database, clock)
    with transaction(database) as session:
        cancel(session, job_id, clock=clock)

    assert _deployment(database, deployment_id).status is DeploymentStatus.cancelled
