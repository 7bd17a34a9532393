"""A worker runs each job in a child process: results, crashes, cancels, retries, logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, select
from structlog.testing import capture_logs
from worker_support import (
    FAST_BACKOFF,
    events,
    finished,
    gone,
    job,
    queue_job,
    registry,
    settings_for,
    worker_thread,
)

from shipyard.engine import _procfs
from shipyard.jobs import JobKind, JobState, cancel, enqueue
from shipyard.jobs.doorbell import DOORBELL, JOB_COMMITS
from shipyard.jobs.testing import PREPARE_FAILS, prepared_marker
from shipyard.jobs.worker import Worker
from shipyard.store import transaction
from shipyard.store.models import Job

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
LEASE = 30.0
"""The product's default. These tests are not about leases: with a short one, a loaded
machine that stalls the worker for half of it (1.5 s of a 3 s lease) reads as a lost
database, and the worker gives the job back in the middle of the test."""


def make_worker(
    database: Engine, tmp_path: Path, *, lease_seconds: float = LEASE, **handlers: str
) -> Worker:
    return Worker(
        settings_for(database, tmp_path / "data"),
        registry(**handlers),
        "test-worker",
        lease_seconds=lease_seconds,
        poll_interval=0.05,
        cancel_grace=10.0,
        shutdown_grace=1.0,
        backoff=FAST_BACKOFF,
        database=database,
    )


def test_a_job_runs_in_a_child_process_and_completes_with_its_result(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    out = tmp_path / "out.txt"
    job_id = queue_job(database, {"path": str(out), "content": "hello"})

    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        worker_thread(make_worker(database, tmp_path, deploy="write_file")),
    ):
        wait_for(lambda: finished(database, job_id), "the job to finish")

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert out.read_text() == "hello"
    assert done.result is not None
    assert done.result["pid"] != os.getpid()
    kinds = [event.kind for event in events(database, job_id)]
    assert kinds == ["started", "process_started", "test.writing", "succeeded"]
    started = events(database, job_id)[1]
    assert started.data is not None and started.data["pid"] == done.result["pid"]
    succeeded = [line for line in logs if line["event"] == "job succeeded"]
    assert succeeded, logs
    assert succeeded[0]["job_id"] == job_id
    assert succeeded[0]["job_kind"] == "deploy"
    assert succeeded[0]["stack_key"] == "default/app/dev"
    assert succeeded[0]["worker_id"] == "test-worker"


def test_each_commit_of_the_job_process_rings_the_jobs_bell_while_it_runs(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    out = tmp_path / "out.txt"
    # The handler commits its `test.writing` event, then works 3 s before it writes.
    job_id = queue_job(database, {"path": str(out), "content": "hi", "hold_s": 3.0})
    seen = JOB_COMMITS.count(job_id)
    woken: list[bool] = []
    waiter = threading.Thread(
        target=lambda: woken.append(asyncio.run(JOB_COMMITS.wait(job_id, seen, 60.0)))
    )
    waiter.start()

    with worker_thread(make_worker(database, tmp_path, deploy="write_file")):
        waiter.join(60.0)
        # Woken by the event's commit, while the job still works: not by its end.
        assert woken == [True]
        assert "test.writing" in [event.kind for event in events(database, job_id)]
        assert not out.exists()
        wait_for(lambda: finished(database, job_id), "the job to finish")

    assert job(database, job_id).state is JobState.succeeded
    assert JOB_COMMITS.count(job_id) > seen


def test_a_crashing_child_fails_its_job_naming_the_exit_code_and_the_worker_carries_on(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    crashing = queue_job(database, {"exit_code": 7}, kind=JobKind.build, stack="default/a/dev")
    out = tmp_path / "next.txt"
    following = queue_job(database, {"path": str(out), "content": "next"}, stack="default/b/dev")

    with worker_thread(make_worker(database, tmp_path, build="crash", deploy="write_file")):
        wait_for(lambda: finished(database, following), "the job after the crash to finish")

    crashed = job(database, crashing)
    assert crashed.state is JobState.failed
    assert crashed.attempts == 1, "a crash is not retried"
    assert crashed.error is not None and "exited with code 7" in crashed.error
    died = [event for event in events(database, crashing) if event.kind == "process_died"]
    assert len(died) == 1
    assert died[0].data is not None and died[0].data["exit_code"] == 7
    assert "without reporting an outcome" in died[0].message
    assert job(database, following).state is JobState.succeeded
    assert out.read_text() == "next"


def test_cancelling_a_running_job_stops_its_child_and_records_it_cancelled(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    started = tmp_path / "started"
    payload = {"started": str(started), "gate": str(tmp_path / "gate")}
    job_id = queue_job(database, payload)

    with worker_thread(make_worker(database, tmp_path, deploy="wait_for_gate")):
        wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")
        child = int(started.read_text())
        with transaction(database) as session:
            cancel(session, job_id)
        wait_for(lambda: finished(database, job_id), "the cancelled job to finish")

    assert job(database, job_id).state is JobState.cancelled
    assert gone(child)
    kinds = [event.kind for event in events(database, job_id)]
    assert kinds == ["started", "process_started", "cancel_requested", "cancel", "cancelled"]
    assert "SIGTERM to job process" in events(database, job_id)[3].message


@contextlib.contextmanager
def _stalled(database: Engine, job_id: int) -> Iterator[None]:
    """The database stops answering the worker's writes of the job while this block
    runs: a transaction of ours holds the job's row (PostgreSQL), the write lock (SQLite)."""
    with transaction(database) as session:
        session.execute(select(Job.id).where(Job.id == job_id).with_for_update())
        yield


def test_a_job_stopped_while_the_database_did_not_answer_records_how_once_it_answers(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    job_id = queue_job(database, {"started": str(started), "gate": str(gate)})
    # Unrenewed for half of the lease (3 s), the job is cancelled; for all of it, killed.
    worker = make_worker(database, tmp_path, lease_seconds=6.0, deploy="wait_for_gate")

    with worker_thread(worker):
        wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")
        child = int(started.read_text())
        with _stalled(database, job_id):
            wait_for(lambda: gone(child), "the unrenewed job's process to stop", timeout=20)
            gate.touch()  # the job's next attempt ends at once
        wait_for(lambda: finished(database, job_id), "the job given back to run again")

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert done.attempts == 2
    first_attempt = events(database, job_id)[:4]
    assert [event.kind for event in first_attempt] == [
        "started",
        "process_started",
        "cancel",
        "released",
    ]
    stop = first_attempt[2]
    assert stop.message.startswith("cancel (the database stopped answering): ")
    assert f"SIGTERM to job process {child};" in stop.message
    assert stop.data is not None and stop.data["pid"] == child


def test_a_transient_failure_is_retried_then_succeeds(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    job_id = queue_job(database, {"failures": 1})

    with worker_thread(make_worker(database, tmp_path, deploy="fail_transiently")):
        wait_for(lambda: finished(database, job_id), "the retried job to finish")

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert done.attempts == 2
    assert done.result is not None and done.result["attempt"] == 2
    kinds = [event.kind for event in events(database, job_id)]
    assert kinds.count("retry_scheduled") == 1
    retry = next(event for event in events(database, job_id) if event.kind == "retry_scheduled")
    assert "TransientJobError: attempt 1: the service is not ready yet" in retry.message


def test_a_job_without_a_handler_fails_with_a_message_saying_how_to_register_one(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    job_id = queue_job(database, {}, kind=JobKind.refresh)

    with worker_thread(make_worker(database, tmp_path, deploy="write_file")):
        wait_for(lambda: finished(database, job_id), "the job to finish")

    done = job(database, job_id)
    assert done.state is JobState.failed
    assert done.error is not None and "no handler registered for job kind refresh" in done.error


def test_stopping_the_worker_gives_a_running_job_back_after_the_grace_period(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    started = tmp_path / "started"
    payload = {"started": str(started), "gate": str(tmp_path / "gate")}
    job_id = queue_job(database, payload)
    worker = make_worker(database, tmp_path, deploy="wait_for_gate")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=60)

    back = job(database, job_id)
    assert back.state is JobState.queued
    assert back.needs_recovery
    assert gone(int(started.read_text()))
    assert [event.kind for event in events(database, job_id)][-2:] == ["cancel", "released"]


def _waiting_job_processes() -> list[int]:
    """The job processes of this test process's workers: children of the job fork
    server in sessions of their own (the fork server's start-up probe has none)."""
    servers = [
        process.pid
        for process in _procfs.descendants(os.getpid())
        if b"multiprocessing.forkserver" in _cmdline(process.pid)
    ]
    return [
        child.pid
        for server in servers
        for child in _procfs.descendants(server)
        if _parent_and_session(child.pid) == (server, child.pid)
    ]


def _cmdline(pid: int) -> bytes:
    """The process's command line; empty once it exited (a job process that ended
    between the listing and the read: never a fork server, which lives as long as us)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent_and_session(pid: int) -> tuple[int, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[3])


def test_a_job_runs_in_the_process_the_worker_made_ready_before_it_was_queued(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    started = tmp_path / "started"
    gate = tmp_path / "gate"

    with worker_thread(make_worker(database, tmp_path, deploy="wait_for_gate")):
        wait_for(lambda: len(_waiting_job_processes()) == 1, "the worker's next job process")
        (ready,) = _waiting_job_processes()
        job_id = queue_job(database, {"started": str(started), "gate": str(gate)})
        wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")
        assert int(started.read_text()) == ready
        gate.touch()
        wait_for(lambda: finished(database, job_id), "the job to finish")
        # The next job's process is made ready as soon as the job is recorded.
        wait_for(lambda: len(_waiting_job_processes()) == 1, "the next job process")
        assert _waiting_job_processes() != [ready]

    assert job(database, job_id).state is JobState.succeeded
    assert gone(ready)
    assert _waiting_job_processes() == [], "a stopped worker leaves no job process behind"


def test_a_ready_job_process_that_died_while_it_waited_is_replaced_for_the_job(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    out = tmp_path / "out.txt"

    with (
        capture_logs() as logs,
        worker_thread(make_worker(database, tmp_path, deploy="write_file")) as stop,
    ):
        wait_for(lambda: len(_waiting_job_processes()) == 1, "the worker's next job process")
        (ready,) = _waiting_job_processes()
        os.kill(ready, 9)
        wait_for(lambda: gone(ready), "the ready job process to die")
        job_id = queue_job(database, {"path": str(out), "content": "still runs"})
        wait_for(lambda: finished(database, job_id), "the job to finish")
        stop.set()

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert out.read_text() == "still runs"
    assert done.result is not None and done.result["pid"] != ready
    replaced = [line for line in logs if "made ready for this job is gone" in line["event"]]
    assert [line["pid"] for line in replaced] == [ready]


def test_the_handler_modules_warm_up_runs_in_the_jobs_process_before_its_job(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    worker = make_worker(database, tmp_path, deploy="write_file")
    worker.settings.data_dir.mkdir(parents=True, exist_ok=True)
    job_id = queue_job(database, {"path": str(tmp_path / "out.txt"), "content": "x"})

    with worker_thread(worker):
        wait_for(lambda: finished(database, job_id), "the job to finish")

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert done.result is not None
    # The job found the warm-up's marker of its own process, and signed it.
    marker = prepared_marker(worker.settings, done.result["pid"])
    assert marker.read_text() == f"job {job_id}"


def test_a_failing_warm_up_is_skipped_and_the_job_runs(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    worker = make_worker(database, tmp_path, deploy="write_file")
    worker.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (worker.settings.data_dir / PREPARE_FAILS).touch()
    out = tmp_path / "out.txt"
    job_id = queue_job(database, {"path": str(out), "content": "ran anyway"})

    with worker_thread(worker):
        wait_for(lambda: finished(database, job_id), "the job to finish")

    done = job(database, job_id)
    assert done.state is JobState.succeeded, done.error
    assert out.read_text() == "ran anyway"
    assert done.result is not None
    assert not prepared_marker(worker.settings, done.result["pid"]).exists()


def test_a_job_queued_in_the_workers_process_is_claimed_at_once_not_at_the_next_poll(
    database: Engine, tmp_path: Path, wait_for: WaitFor
) -> None:
    worker = make_worker(database, tmp_path, deploy="write_file")
    worker.poll_interval = 120.0  # an idle worker would find the second job in 2 min
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"

    with worker_thread(worker):
        first_id = queue_job(database, {"path": str(first), "content": "1"})
        wait_for(lambda: finished(database, first_id), "the first job to finish", timeout=60)
        second_id = queue_job(database, {"path": str(second), "content": "2"})
        wait_for(lambda: finished(database, second_id), "the second job to finish", timeout=30)

    assert job(database, second_id).state is JobState.succeeded
    assert second.read_text() == "2"


def test_only_a_committed_enqueue_wakes_the_workers(database: Engine) -> None:
    before = DOORBELL.rings
    with pytest.raises(RuntimeError), transaction(database) as session:
        enqueue(session, JobKind.deploy, "default/app/dev", {})
        raise RuntimeError("the use case failed after queueing")
    assert DOORBELL.rings == before

    queue_job(database, {})
    assert DOORBELL.rings == before + 1
