"""A job running a real engine ``up`` (the Pulumi CLI, ``file://`` backend) is cancelled."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from worker_support import events, finished, job, queue_job, registry, settings_for, worker_thread

from shipyard.engine.toolchain import ensure_pulumi
from shipyard.jobs import JobState, cancel
from shipyard.jobs.worker import Worker
from shipyard.settings import Settings
from shipyard.store import transaction

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]


@pytest.fixture
def settings(database: Engine, tmp_path: Path) -> Iterator[Settings]:
    resolved = settings_for(database, tmp_path / "data")
    ensure_pulumi(resolved)  # built once into the cache; not inside a job's time
    yield resolved
    for pid in _providers_under(tmp_path):  # left behind only if the test failed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _providers_under(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"pulumi.dynamic" in cmdline and (entry / "cwd").readlink().is_relative_to(root):
                found.append(int(entry.name))
    return found


def test_an_engine_up_cancelled_mid_operation_is_cancelled_and_the_next_up_succeeds(
    database: Engine, settings: Settings, tmp_path: Path, wait_for: WaitFor
) -> None:
    stack = f"default/c{uuid.uuid4().hex[:8]}/dev"
    work = tmp_path / "work"
    work.mkdir()
    payload = {
        "path": str(work / "out.txt"),
        "content": "done",
        "gate": str(work / "gate"),
        "started": str(work / "started"),
        "cancel_grace_s": 1.0,
    }
    worker = Worker(
        settings,
        registry(deploy="engine_up"),
        "engine-worker",
        lease_seconds=10.0,
        poll_interval=0.1,
        cancel_grace=60.0,
        shutdown_grace=1.0,
        database=database,
    )
    first = queue_job(database, payload, stack=stack)

    with worker_thread(worker):
        wait_for(lambda: (work / "started").exists(), "the gated create to start", timeout=180)
        with transaction(database) as session:
            cancel(session, first)
        wait_for(lambda: finished(database, first), "the cancelled up to end", timeout=120)
        assert job(database, first).state is JobState.cancelled, job(database, first).error

        (work / "gate").touch()
        second = queue_job(database, payload, stack=stack)
        wait_for(lambda: finished(database, second), "the next up to finish", timeout=180)

    done = job(database, second)
    assert done.state is JobState.succeeded, done.error
    assert done.result is not None and done.result["changes"].get("create", 0) >= 1
    assert (work / "out.txt").read_text() == "done"
    cancel_steps = [e.message for e in events(database, first) if e.kind == "engine.cancel"]
    assert cancel_steps and cancel_steps[0].startswith("cancel: SIGINT to the Pulumi CLI")
    kinds = [e.kind for e in events(database, first)]
    assert kinds[-1] == "cancelled"
    assert "cancel_requested" in kinds and "engine.prelude" in kinds
    assert not [e for e in events(database, first) if e.kind == "process_died"]
