"""A job queue in Shipyard's database: per-stack FIFO lanes, leases and heartbeats.

At most one job per stack runs at a time, and the database enforces it: a partial unique
index on ``jobs(stack_key) WHERE state = 'running'``, and a claim that only takes the
oldest queued job of a stack that has none running. On PostgreSQL the claim locks its row
with ``FOR UPDATE SKIP LOCKED``, so workers on any number of machines pass each other by;
on SQLite every write transaction begins ``IMMEDIATE``, so claims run one after another.

``enqueue`` and ``cancel`` take the caller's session (the job belongs to its use case's
transaction); the worker's calls take the engine and commit at once, since a claim or a
heartbeat that is not committed means nothing to the other workers.

Fencing: every claim bumps the job's ``lease_token``. The worker passes the token it got
to each of its writes (heartbeat, complete, fail, ...), and the job's process checks it
before each commit (:func:`check_lease`), so an attempt whose lease was taken over (its
worker was cut off from the database, or hung) writes nothing once another attempt runs.

Recovery by lease: an attempt that ended without cleaning up (its lease expired, its
process died or was killed) leaves ``needs_recovery`` set; the next claim of its stack,
the same job's or the lane's next, then starts with ``needs_recovery`` and takes the
stack's Pulumi locks over before its operation (``jobs._child``).

A job of a kind recorded as a deployment (:data:`INTERRUPTED_FAIL_KINDS`) whose lease
expired ends ``failed`` ("interrupted: ..."), as when its process dies on a live worker:
whichever process died, the deployment says so, and the stack's next job recovers it.
Other kinds (webhook deliveries) are idempotent and watched by nobody: they run again
while their attempts last (docs/decisions.md, "A deployment whose worker died fails").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, object_session

from shipyard.clock import SYSTEM_CLOCK, Clock
from shipyard.jobs.backoff import DEFAULT_BACKOFF, Backoff
from shipyard.jobs.doorbell import ring_after_commit
from shipyard.jobs.errors import LeaseLostError
from shipyard.store import transaction
from shipyard.store._queries import get_or_raise
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import DeploymentStatus, JobKind, JobState
from shipyard.store.errors import NotFoundError
from shipyard.store.events import append_event
from shipyard.store.models import Deployment, Job

__all__ = [
    "INTERRUPTED_FAIL_KINDS",
    "Lease",
    "cancel",
    "check_lease",
    "claim",
    "complete",
    "enqueue",
    "fail",
    "get_job",
    "heartbeat",
    "mark_cancelled",
    "reap_expired",
    "release",
]

_CLAIM_TRIES = 3
_ENDED = (JobState.succeeded, JobState.failed, JobState.cancelled)

INTERRUPTED_FAIL_KINDS = frozenset(
    {JobKind.provision, JobKind.deploy, JobKind.preview, JobKind.refresh, JobKind.destroy}
)
"""The kinds recorded as a deployment a user watches (rollback and promote are ``deploy``
jobs): an attempt whose lease expired fails, as one whose process died does, and is not
run again; the stack's next job recovers the stack. The other kinds run again."""


@dataclass(frozen=True, slots=True)
class Lease:
    expires_at: datetime
    cancel_requested: bool
    """The job was cancelled while running: stop it, then :func:`mark_cancelled`."""
    token: int | None = None
    """The claim's ``lease_token`` the lease was renewed for."""


def enqueue(
    session: Session,
    kind: JobKind,
    stack_key: str,
    payload: dict[str, Any] | None = None,
    *,
    max_attempts: int = 3,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """Queue a job behind the stack's earlier ones; this process's idle workers wake when
    the session commits."""
    job = Job(
        kind=kind,
        stack_key=stack_key,
        payload=payload or {},
        max_attempts=max_attempts,
        created_at=clock.now(),
    )
    session.add(job)
    session.flush()
    ring_after_commit(session)
    return job


def get_job(session: Session, job_id: int) -> Job:
    return get_or_raise(session, Job, job_id, "job")


def claim(
    database: Engine,
    worker_id: str,
    lease_seconds: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    then: Callable[[Session, Job], None] | None = None,
    skip_environments: Sequence[str] = (),
) -> Job | None:
    """Start the oldest job that may run now, leased to ``worker_id``; ``None`` if none may.

    A job may run when it is the oldest queued job of its stack, its stack has no running
    job, and its retry time (``not_before``) has come. ``then`` adds the claimer's own
    records of the start (its events) to the claim's transaction: one commit, and no
    claim without them. Jobs of stacks in ``skip_environments`` (the lane's last part)
    are left queued: the claimer cannot reach their target.
    """
    for _ in range(_CLAIM_TRIES):
        try:
            with transaction(database) as session:
                lease = timedelta(seconds=lease_seconds)
                job = _claim(session, worker_id, lease, clock, skip_environments)
                if job is not None and then is not None:
                    then(session, job)
                return job
        except IntegrityError:
            # Another worker started a job of the same stack first (the unique index).
            continue
    return None


def _claim(
    session: Session, worker_id: str, lease: timedelta, clock: Clock, skip: Sequence[str]
) -> Job | None:
    now = clock.now()
    other = aliased(Job)
    blocked = exists().where(
        other.stack_key == Job.stack_key,
        or_(
            other.state == JobState.running,
            and_(other.state == JobState.queued, other.id < Job.id),
        ),
    )
    query = (
        select(Job)
        .where(
            Job.state == JobState.queued,
            or_(Job.not_before.is_(None), Job.not_before <= now),
            ~blocked,
            *(~Job.stack_key.endswith(f"/{name}", autoescape=True) for name in skip),
        )
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Job)
    )
    job = session.scalars(query).first()
    if job is None:
        return None
    # Read the clock again now that the lane is ours (SQLite's write lock is held, and
    # PostgreSQL's snapshot saw the previous job finish): the start is after that finish.
    now = clock.now()
    if not job.needs_recovery and _previous_interrupted(session, job):
        job.needs_recovery = True
    job.state = JobState.running
    job.worker_id = worker_id
    job.attempts += 1
    job.lease_token += 1
    job.lease_expires_at = now + lease
    job.heartbeat_at = now
    job.started_at = now
    job.not_before = None
    session.flush()
    append_event(
        session,
        job.id,
        "started",
        f"attempt {job.attempts} of {job.max_attempts} started by worker {worker_id}",
        data={
            "worker_id": worker_id,
            "attempt": job.attempts,
            "recovery": job.needs_recovery,
            "lease_token": job.lease_token,
        },
    )
    return job


def _previous_interrupted(session: Session, job: Job) -> bool:
    """The stack's last ended job was interrupted (its lease expired, its process died):
    its Pulumi lock may still be there, whichever host it ran on. A lane runs its jobs in
    id order, so the last one that ran before ``job`` is the highest id below it (one
    step down the ``(state, stack_key, id)`` index per state)."""
    query = (
        select(Job.needs_recovery)
        .where(
            Job.stack_key == job.stack_key,
            Job.state.in_(_ENDED),
            Job.started_at.is_not(None),
            Job.id < job.id,
        )
        .order_by(Job.id.desc())
        .limit(1)
    )
    return bool(session.scalar(query))


def check_lease(
    connection: Session | Connection,
    job_id: int,
    lease_token: int,
    *,
    worker_id: str = "job process",
) -> None:
    """Raise :class:`LeaseLostError` unless the job still runs under the lease ``lease_token``.

    Called in the transaction of a write, before its commit: on PostgreSQL the job's row
    is then share-locked, so a reap or a claim of the job waits for the write's commit
    (or the write sees the reap); SQLite's write transactions run one at a time anyway.
    """
    held = connection.execute(
        select(Job.id)
        .where(Job.id == job_id, Job.lease_token == lease_token, Job.state == JobState.running)
        .with_for_update(read=True)
    ).first()
    if held is None:
        raise LeaseLostError(job_id, worker_id)


def heartbeat(
    database: Engine,
    job_id: int,
    worker_id: str,
    lease_seconds: float,
    *,
    lease_token: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Lease:
    """Extend the lease; raises :class:`LeaseLostError` if it already expired or moved on
    (with ``lease_token``: if the job was claimed again since)."""
    now = clock.now()
    expires_at = now + timedelta(seconds=lease_seconds)
    fence = [Job.lease_token == lease_token] if lease_token is not None else []
    with transaction(database) as session:
        cancel_requested = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.worker_id == worker_id,
                Job.state == JobState.running,
                Job.lease_expires_at > now,
                *fence,
            )
            .values(lease_expires_at=expires_at, heartbeat_at=now)
            .returning(Job.cancel_requested)
        ).scalar_one_or_none()
    if cancel_requested is None:
        raise LeaseLostError(job_id, worker_id)
    return Lease(expires_at=expires_at, cancel_requested=cancel_requested, token=lease_token)


def complete(
    database: Engine,
    job_id: int,
    worker_id: str,
    result: dict[str, Any] | None = None,
    *,
    lease_token: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """The job succeeded. A late report is accepted while nobody else took the job over."""
    with _ending(database) as session:
        job = _owned(session, job_id, worker_id, lease_token)
        _finish(job, JobState.succeeded, clock.now())
        job.result = result
        job.needs_recovery = False
        append_event(session, job.id, "succeeded", f"succeeded on attempt {job.attempts}")
        return job


def fail(
    database: Engine,
    job_id: int,
    worker_id: str,
    error: str,
    *,
    transient: bool = False,
    interrupted: bool = False,
    lease_token: int | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """The attempt failed. A transient failure is retried after a backoff while attempts last.

    ``interrupted``: the attempt's process died or was killed (it may have left a Pulumi
    lock); the stack's next claim recovers it."""
    now = clock.now()
    with _ending(database) as session:
        job = _owned(session, job_id, worker_id, lease_token)
        job.error = error
        job.needs_recovery = interrupted
        retry = transient and job.attempts < job.max_attempts and not job.cancel_requested
        if retry:
            delay = backoff.delay(job.attempts)
            _requeue(job, not_before=now + delay)
            message = f"attempt {job.attempts} failed (transient), retrying in {delay}: {error}"
            append_event(
                session,
                job.id,
                "retry_scheduled",
                message,
                level="warning",
                data={"not_before": job.not_before.isoformat() if job.not_before else None},
            )
        else:
            _finish(job, JobState.failed, now)
            append_event(
                session, job.id, "failed", f"attempt {job.attempts} failed: {error}", level="error"
            )
        return job


def mark_cancelled(
    database: Engine,
    job_id: int,
    worker_id: str,
    *,
    interrupted: bool = False,
    lease_token: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """The worker stopped a job whose cancel was requested (``interrupted``: by a kill)."""
    with _ending(database) as session:
        job = _owned(session, job_id, worker_id, lease_token)
        job.needs_recovery = interrupted
        _finish(job, JobState.cancelled, clock.now())
        append_event(session, job.id, "cancelled", f"cancelled by request, worker {worker_id}")
        return job


def release(
    database: Engine,
    job_id: int,
    worker_id: str,
    reason: str,
    *,
    lease_token: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """Give a running job back unfinished (its worker is shutting down): it runs again,
    flagged ``needs_recovery``; cancelled instead if a cancel was requested meanwhile."""
    with _ending(database) as session:
        job = _owned(session, job_id, worker_id, lease_token)
        job.needs_recovery = True
        if job.cancel_requested:
            _finish(job, JobState.cancelled, clock.now())
            append_event(session, job.id, "cancelled", f"cancelled by request: {reason}")
            return job
        _requeue(job, not_before=None)
        job.needs_recovery = True
        session.flush()
        append_event(
            session,
            job.id,
            "released",
            f"worker {worker_id} gave the job back unfinished ({reason}); queued again",
            level="warning",
            data={"worker_id": worker_id, "attempt": job.attempts},
        )
        return job


def cancel(session: Session, job_id: int, *, clock: Clock = SYSTEM_CLOCK) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop (see :class:`Lease`).

    A finished job is returned unchanged.
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFoundError("job", job_id)
    if job.state is JobState.queued:
        _finish(job, JobState.cancelled, clock.now())
        append_event(session, job.id, "cancelled", "cancelled before it started")
    elif job.state is JobState.running and not job.cancel_requested:
        job.cancel_requested = True
        append_event(session, job.id, "cancel_requested", f"worker {job.worker_id} asked to stop")
    session.flush()
    return job


def reap_expired(database: Engine, *, clock: Clock = SYSTEM_CLOCK) -> list[Job]:
    """Take back running jobs whose lease expired (their worker died, hung or was cut off).

    Each is flagged ``needs_recovery`` (its stack's next claim takes the stack over). A job
    of :data:`INTERRUPTED_FAIL_KINDS` fails ("interrupted: ...", its deployment too); any
    other goes back to the queue at the head of its stack's lane, or fails once its
    attempts are used up; a job whose cancel was requested is cancelled. A
    ``lease_expired`` event on the job says what happened.
    """
    now = clock.now()
    with transaction(database) as session:
        query = (
            select(Job)
            .where(Job.state == JobState.running, Job.lease_expires_at <= now)
            .order_by(Job.id)
            .with_for_update(skip_locked=True)
        )
        reaped = list(session.scalars(query))
        for job in reaped:
            _reap(session, job, now)
        if reaped:
            ring_after_commit(session)  # their stacks are free: the next jobs may run
        return reaped


def _reap(session: Session, job: Job, now: datetime) -> None:
    worker = job.worker_id
    expired_at = job.lease_expires_at.isoformat(timespec="seconds") if job.lease_expires_at else "?"
    lost = f"worker {worker} stopped renewing its lease at {expired_at}"
    data = {"worker_id": worker, "attempt": job.attempts, "max_attempts": job.max_attempts}
    job.needs_recovery = True  # whatever its end, its stack's next claim recovers the stack
    failed: str | None = None
    if job.cancel_requested:
        _finish(job, JobState.cancelled, now)
        outcome = "cancelled, as requested"
    elif job.kind in INTERRUPTED_FAIL_KINDS:
        job.error = failed = f"interrupted: {lost}; the stack is recovered by its next job"
        _finish(job, JobState.failed, now)
        outcome = "failed: a deployment's job is not run again"
    elif job.attempts < job.max_attempts:
        _requeue(job, not_before=None)
        outcome = f"queued again for attempt {job.attempts + 1} of {job.max_attempts}"
    else:
        job.error = f"{lost}; all {job.max_attempts} attempts used"
        _finish(job, JobState.failed, now)
        outcome = "failed: no attempts left"
    session.flush()
    append_event(session, job.id, "lease_expired", f"{lost}; {outcome}", level="warning", data=data)
    if failed is not None:
        append_event(
            session, job.id, "failed", f"attempt {job.attempts} failed: {failed}", level="error"
        )


@contextmanager
def _ending(database: Engine) -> Iterator[Session]:
    """The transaction that ends a job's attempt; its commit rings the workers' doorbell:
    the stack is free, its next job may run."""
    with transaction(database) as session:
        ring_after_commit(session)
        yield session


def _owned(session: Session, job_id: int, worker_id: str, lease_token: int | None) -> Job:
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.state is not JobState.running or job.worker_id != worker_id:
        raise LeaseLostError(job_id, worker_id)
    if lease_token is not None and job.lease_token != lease_token:
        raise LeaseLostError(job_id, worker_id)
    return job


def _requeue(job: Job, *, not_before: datetime | None) -> None:
    job.state = JobState.queued
    job.worker_id = None
    job.lease_expires_at = None
    job.not_before = not_before


def _finish(job: Job, state: JobState, now: datetime) -> None:
    job.state = state
    job.finished_at = now
    job.lease_expires_at = None
    if state in _SETTLES:
        _settle_deployments(job, _SETTLES[state], now)


_SETTLES = {
    JobState.failed: DeploymentStatus.failed,
    JobState.cancelled: DeploymentStatus.cancelled,
}


def _settle_deployments(job: Job, status: DeploymentStatus, now: datetime) -> None:
    """A job that ends without its handler settling its deployment (its process died, its
    attempts ran out, it was cancelled before it ran) settles it here, so no deployment
    stays ``queued`` or ``running`` behind a finished job."""
    session = object_session(job)
    if session is None:
        return
    unfinished = select(Deployment).where(
        Deployment.job_id == job.id,
        Deployment.status.in_([DeploymentStatus.queued, DeploymentStatus.running]),
    )
    for deployment in session.scalars(unfinished):
        set_deployment_status(
            session, deployment, status, error=job.error or f"job {job.id} {job.state}", at=now
        )
