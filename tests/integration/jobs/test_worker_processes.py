"""``shipyard worker`` processes sharing one queue, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from worker_support import SHIPYARD, events, finished, gone, job, queue_job, url_of

from shipyard.jobs import JobState

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
StartWorker = Callable[..., subprocess.Popen[bytes]]
LEASE = "2"


@pytest.fixture
def start_worker(database: Engine, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts ``shipyard worker`` processes on the test's database; stops them afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(handler: str, *, name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [
                str(SHIPYARD),
                "worker",
                "--handler",
                f"deploy=shipyard.jobs.testing:{handler}",
                "--lease-seconds",
                LEASE,
                "--poll-interval",
                "0.05",
                "--shutdown-grace",
                "5",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "SHIPYARD_DATA_DIR": str(tmp_path / "data"),
                "SHIPYARD_DATABASE_URL": url_of(database),
                "SHIPYARD_LOG_FORMAT": "json",
            },
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_worker_processes_run_20_jobs_over_4_stacks_one_at_a_time_per_stack(
    database: Engine, tmp_path: Path, start_worker: StartWorker, wait_for: WaitFor
) -> None:
    stacks = [f"default/app-{index % 4}/dev" for index in range(20)]
    out = tmp_path / "out"
    out.mkdir()
    jobs = [
        queue_job(
            database,
            {"path": str(out / f"{index}.txt"), "content": "x", "hold_s": 0.2},
            stack=stack,
        )
        for index, stack in enumerate(stacks)
    ]
    workers = [start_worker("write_file", name=f"worker-{n}") for n in range(2)]

    wait_for(lambda: all(finished(database, job_id) for job_id in jobs), "all 20 jobs", timeout=300)

    done = [job(database, job_id) for job_id in jobs]
    assert {j.state for j in done} == {JobState.succeeded}, [j.error for j in done]
    assert {j.attempts for j in done} == {1}, [
        [(e.kind, e.message) for e in events(database, j.id)] for j in done if j.attempts > 1
    ]
    assert len(list(out.iterdir())) == 20
    # Both worker processes took part.
    assert {j.worker_id.split(":")[1] for j in done if j.worker_id} == {str(w.pid) for w in workers}
    # Never two jobs of one stack at once, and each stack's jobs in enqueue order.
    runs: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for j in done:
        assert j.result is not None
        runs[j.stack_key].append((j.result["started_ns"], j.result["ended_ns"], j.id))
    assert len(runs) == 4
    for stack_runs in runs.values():
        stack_runs.sort()
        for (_, ended, _), (started, _, _) in itertools.pairwise(stack_runs):
            assert ended < started
        assert [job_id for _, _, job_id in stack_runs] == sorted(j for _, _, j in stack_runs)


def test_a_sigkilled_workers_deploy_fails_after_its_lease_and_the_next_one_recovers_the_stack(
    database: Engine, tmp_path: Path, start_worker: StartWorker, wait_for: WaitFor
) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    job_id = queue_job(database, {"started": str(started), "gate": str(gate)})
    doomed = start_worker("wait_for_gate", name="doomed")
    wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")
    orphan = int(started.read_text())

    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    # The orphaned child sees its worker is gone and stops (cancelled, nobody to tell).
    wait_for(lambda: gone(orphan), "the orphaned job process to exit")
    gate.touch()
    following = tmp_path / "following"
    next_id = queue_job(database, {"started": str(following), "gate": str(gate)})
    rescuer = start_worker("wait_for_gate", name="rescuer")
    wait_for(lambda: finished(database, next_id), "the stack's next job to finish", timeout=120)

    # The interrupted deploy failed with the reason, as if its process had died, and
    # did not run again; its stack's next job took the stack over, then ran.
    dead = job(database, job_id)
    assert dead.state is JobState.failed
    assert dead.error is not None
    assert dead.error.startswith(f"interrupted: worker {dead.worker_id} stopped renewing")
    assert dead.error.endswith("; the stack is recovered by its next job")
    assert dead.worker_id is not None and dead.worker_id.split(":")[1] == str(doomed.pid)
    assert (dead.attempts, dead.needs_recovery) == (1, True)
    record = events(database, job_id)
    assert [event.kind for event in record] == [
        "started",
        "process_started",
        "lease_expired",
        "failed",
    ]
    assert f":{doomed.pid}:0 stopped renewing its lease" in record[2].message
    assert record[3].message == f"attempt 1 failed: {dead.error}"

    done = job(database, next_id)
    assert done.state is JobState.succeeded, done.error
    assert (done.attempts, done.needs_recovery) == (1, False)
    assert done.result is not None and done.result["recovery"] is True
    assert done.worker_id is not None and done.worker_id.split(":")[1] == str(rescuer.pid)
    record = events(database, next_id)
    kinds = [event.kind for event in record]
    assert kinds == ["started", "recovery", "process_started", "succeeded"]
    assert record[0].data is not None and record[0].data["recovery"] is True
    assert "the stack's previous job (or this job's previous attempt) was interrupted" in (
        record[1].message
    )


def test_sigterm_lets_a_running_job_finish_within_the_grace_period(
    database: Engine, tmp_path: Path, start_worker: StartWorker, wait_for: WaitFor
) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    job_id = queue_job(database, {"started": str(started), "gate": str(gate)})
    worker = start_worker("wait_for_gate", name="worker")
    wait_for(lambda: started.exists() and started.read_text() != "", "the job to start")

    worker.send_signal(signal.SIGTERM)
    gate.touch()

    assert worker.wait(timeout=60) == 0
    assert job(database, job_id).state is JobState.succeeded
