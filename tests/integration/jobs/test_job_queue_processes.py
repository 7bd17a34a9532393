"""The job queue across worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from multiprocessing.synchronize import Event as EventType

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from shipyard.clock import utc_now
from shipyard.jobs import JobKind, JobState, claim, complete, enqueue, reap_expired
from shipyard.store import open_database, transaction
from shipyard.store.events import list_events
from shipyard.store.models import Job
from shipyard.testing.clock import FakeClock

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")
JOBS, STACKS, WORKERS = 50, 5, 2

# What each worker did, written by the worker itself between claim and complete.
work_log = Table(
    "test_work_log",
    MetaData(),
    Column("job_id", Integer, primary_key=True),  # a job run twice fails the worker
    Column("stack_key", String(255), nullable=False),
    Column("worker_id", String(64), nullable=False),
    Column("started_ns", BigInteger, nullable=False),
    Column("ended_ns", BigInteger),
)


@pytest.fixture
def logged_engine(database: Engine) -> Iterator[Engine]:
    work_log.create(database)
    yield database


def _unfinished(database: Engine) -> int:
    with transaction(database, read_only=True) as session:
        query = (
            select(func.count())
            .select_from(Job)
            .where(Job.state.in_([JobState.queued, JobState.running]))
        )
        return session.scalar(query) or 0


def _work(url: str, worker_id: str, start: Barrier, deadline: float) -> None:
    """A worker: claim, log start, work a little, log end, complete; until nothing is left."""
    database = open_database(url)
    try:
        start.wait(timeout=60)
        while time.monotonic() < deadline:
            job = claim(database, worker_id, lease_seconds=60)
            if job is None:
                if _unfinished(database) == 0:
                    return
                time.sleep(0.002)  # poll interval of an idle worker
                continue
            with database.begin() as connection:
                connection.execute(
                    insert(work_log).values(
                        job_id=job.id,
                        stack_key=job.stack_key,
                        worker_id=worker_id,
                        started_ns=time.monotonic_ns(),
                    )
                )
            time.sleep(0.002)  # the work itself
            with database.begin() as connection:
                connection.execute(
                    update(work_log)
                    .where(work_log.c.job_id == job.id)
                    .values(ended_ns=time.monotonic_ns())
                )
            complete(database, job.id, worker_id)
        raise TimeoutError(f"{worker_id}: jobs left at the deadline")
    finally:
        database.dispose()


def test_two_worker_processes_run_every_job_once_one_per_stack_in_order(
    logged_engine: Engine,
) -> None:
    database = logged_engine
    lanes = [index // 2 % STACKS for index in range(JOBS)]  # 0 0 1 1 2 2 ... : pairs contend
    with transaction(database) as session:
        for index, lane in enumerate(lanes):
            enqueue(session, JobKind.deploy, f"default/app-{lane}/dev", {"i": index})
    url = database.url.render_as_string(hide_password=False)
    start = SPAWN.Barrier(WORKERS)
    deadline = time.monotonic() + 120
    workers = [
        SPAWN.Process(target=_work, args=(url, f"worker-{n}", start, deadline))
        for n in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(1.0, deadline - time.monotonic() + 10))
    for worker in workers:
        if worker.is_alive():
            worker.kill()
    assert [worker.exitcode for worker in workers] == [0] * WORKERS

    with database.connect() as connection:
        rows = connection.execute(select(work_log).order_by(work_log.c.started_ns)).all()
    with transaction(database, read_only=True) as session:
        jobs = session.scalars(select(Job).order_by(Job.id)).all()

    # Every job done, exactly once (the log's primary key refuses a second run).
    assert {job.state for job in jobs} == {JobState.succeeded}
    assert {job.attempts for job in jobs} == {1}
    assert sorted(row.job_id for row in rows) == [job.id for job in jobs]
    # Never two jobs of one stack at once, and each stack's jobs in enqueue order.
    per_stack: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for row in rows:
        assert row.ended_ns is not None
        per_stack[row.stack_key].append((row.started_ns, row.ended_ns, row.job_id))
    assert len(per_stack) == STACKS
    for runs in per_stack.values():
        for (_, ended, _), (started, _, _) in itertools.pairwise(runs):
            assert ended < started
        assert [job_id for _, _, job_id in runs] == sorted(job_id for _, _, job_id in runs)
    # Both workers took part: the lanes were really contended.
    assert {row.worker_id for row in rows} == {f"worker-{n}" for n in range(WORKERS)}


def _claim_and_hang(url: str, claimed: EventType) -> None:
    database = open_database(url)
    try:
        job = claim(database, "doomed-worker", lease_seconds=60)
        assert job is not None
        claimed.set()
        threading.Event().wait()  # hang mid-job until killed
    finally:
        database.dispose()


def test_a_killed_workers_job_is_requeued_after_its_lease_with_a_record(database: Engine) -> None:
    # A webhook delivery runs again; a deployment's job would fail (tests/unit/jobs).
    with transaction(database) as session:
        job_id = enqueue(session, JobKind.deliver, "webhooks:outbox").id
    claimed = SPAWN.Event()
    worker = SPAWN.Process(
        target=_claim_and_hang, args=(database.url.render_as_string(hide_password=False), claimed)
    )
    worker.start()
    try:
        assert claimed.wait(timeout=60), "the worker never claimed the job"
    finally:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL

    after_lease = FakeClock(utc_now() + timedelta(seconds=61))
    assert reap_expired(database) == []  # the lease still runs on the real clock
    (reaped,) = reap_expired(database, clock=after_lease)
    assert reaped.id == job_id

    job = claim(database, "rescuer", 60, clock=after_lease)
    assert job is not None and job.id == job_id
    assert job.needs_recovery and job.attempts == 2
    complete(database, job_id, "rescuer", clock=after_lease)
    with transaction(database, read_only=True) as session:
        events = list_events(session, job_id)
    assert [event.kind for event in events] == ["started", "lease_expired", "started", "succeeded"]
    assert "worker doomed-worker stopped renewing its lease" in events[1].message
