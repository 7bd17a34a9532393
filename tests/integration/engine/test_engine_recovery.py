"""Crash recovery (a SIGKILLed ``up``) and graceful cancel, against the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.engine import (
    CancelToken,
    Engine,
    EngineEventRecord,
    EventKind,
    OperationCancelledError,
    Program,
    StackLockedError,
    StackRef,
    _procfs,
    _recovery,
)
from shipyard.engine.testing import GatedFileResource

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
CRASH_CHILD = Path(__file__).with_name("crash_child.py")


def gated_program(work: Path) -> Program:
    def program() -> None:
        GatedFileResource(
            "gated", str(work / "out.txt"), "done", str(work / "gate"), str(work / "started")
        )

    return program


def _kill(processes: list[_procfs.ProcessId]) -> None:
    for process in processes:
        _procfs.kill_group(process)


def test_a_sigkilled_up_is_recovered_by_the_next_operation(
    engine: Engine, stack_ref: StackRef, tmp_path: Path, data_dir: Path, wait_for: WaitFor
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    state = data_dir / "state"
    child = subprocess.Popen(
        [
            sys.executable,
            str(CRASH_CHILD),
            str(data_dir),
            stack_ref.project,
            stack_ref.stack,
            str(work),
        ],
        start_new_session=True,
    )
    family: list[_procfs.ProcessId] = []
    try:
        wait_for(
            lambda: (work / "started").exists() or child.poll() is not None,
            "the gated create to start",
            timeout=120,
        )
        assert child.poll() is None, "the child's up ended before the crash"
        [lock] = _recovery.find_locks(state, stack_ref)
        family = _procfs.descendants(child.pid)
        cli = [p for p in family if p.pid == lock.pid]
        assert cli, "the lock names the CLI's pid"
        # A crash: the worker and its CLI die at once, with no chance to clean up.
        os.kill(child.pid, signal.SIGKILL)
        os.killpg(lock.pid, signal.SIGKILL)
        child.wait(timeout=30)
        wait_for(lambda: not _procfs.alive(cli[0]), "the CLI to die")
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=30)
    assert _recovery.find_locks(state, stack_ref), "a SIGKILLed CLI leaves its lock"
    assert [p.kind for p in _recovery.read_pending(state, stack_ref)] == ["creating"]
    _kill(family)  # the provider outlives the CLI (PULUMI-FACTS); a crash leaves it behind

    (work / "gate").touch()
    events: list[EngineEventRecord] = []
    result = engine.up(stack_ref, gated_program(work), on_event=events.append)

    recovery = [e.message for e in events if e.kind is EventKind.RECOVERY]
    assert any("removed the stale lock" in m for m in recovery)
    assert any("1 pending operation(s)" in m and "creating" in m for m in recovery)
    assert any("pending operations resolved" in m for m in recovery)
    assert result.recovered == tuple(recovery)
    assert result.changes.get("create") == 1
    assert (work / "out.txt").read_text() == "done"
    assert _recovery.find_locks(state, stack_ref) == []
    assert _recovery.read_pending(state, stack_ref) == []
    assert not engine.up(stack_ref, gated_program(work)).changed


def test_cancel_mid_up_gives_a_cancelled_error_then_a_clean_up(
    make_engine: Callable[..., Engine], stack_ref: StackRef, tmp_path: Path, wait_for: WaitFor
) -> None:
    engine = make_engine(cancel_grace_s=1.0, second_grace_s=10.0)
    work = tmp_path / "work"
    work.mkdir()
    token = CancelToken()
    events: list[EngineEventRecord] = []
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            engine.up(stack_ref, gated_program(work), on_event=events.append, cancel=token)
        except OperationCancelledError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(
        lambda: (work / "started").exists() or not thread.is_alive(),
        "the gated create to start",
        timeout=120,
    )
    token.cancel()
    thread.join(timeout=120)

    assert not thread.is_alive()
    error = outcome["error"]
    assert isinstance(error, OperationCancelledError)
    assert error.escalation in {"SIGINT x2", "SIGKILL"}
    cancel_steps = [e.message for e in events if e.kind is EventKind.CANCEL]
    assert cancel_steps[0].startswith("cancel: SIGINT to the Pulumi CLI")
    assert not engine.cancel(stack_ref), "nothing runs any more"

    (work / "gate").touch()
    result = engine.up(stack_ref, gated_program(work))

    assert (work / "out.txt").read_text() == "done"
    assert result.changes.get("create", 0) >= 1
    assert _recovery.find_locks(engine.data_dir / "state", stack_ref) == []
    assert not engine.up(stack_ref, gated_program(work)).changed


def test_a_graceful_cancel_lets_the_in_flight_step_finish(
    make_engine: Callable[..., Engine], stack_ref: StackRef, tmp_path: Path, wait_for: WaitFor
) -> None:
    engine = make_engine(cancel_grace_s=60.0, second_grace_s=10.0)
    work = tmp_path / "work"
    work.mkdir()
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            engine.up(stack_ref, gated_program(work))
        except OperationCancelledError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: (work / "started").exists(), "the gated create to start", timeout=120)
    assert engine.cancel(stack_ref)
    (work / "gate").touch()
    thread.join(timeout=120)

    error = outcome["error"]
    assert isinstance(error, OperationCancelledError)
    assert error.escalation == "SIGINT"
    assert (work / "out.txt").read_text() == "done"
    assert _recovery.read_pending(engine.data_dir / "state", stack_ref) == []
    assert not engine.up(stack_ref, gated_program(work)).changed


def _write_lock(data_dir: Path, ref: StackRef, pid: int, hostname: str) -> Path:
    directory = data_dir / "state" / ".pulumi" / "locks" / "organization" / ref.project / ref.stack
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "0f0f0f0f-test-lock.json"
    stamp = datetime.now(UTC).isoformat()
    path.write_text(
        json.dumps({"pid": pid, "username": "someone", "hostname": hostname, "timestamp": stamp})
    )
    return path


def test_a_lock_held_by_a_live_process_is_never_broken(
    engine: Engine, stack_ref: StackRef, tmp_path: Path, data_dir: Path
) -> None:
    engine.up(stack_ref, gated_program_ready(tmp_path))
    lock = _write_lock(data_dir, stack_ref, os.getpid(), socket.gethostname())

    with pytest.raises(StackLockedError) as caught:
        engine.up(stack_ref, gated_program_ready(tmp_path))

    assert lock.exists()
    assert f"pid {os.getpid()}" in str(caught.value)


def test_a_lock_of_another_host_is_never_broken(
    engine: Engine, stack_ref: StackRef, tmp_path: Path, data_dir: Path
) -> None:
    engine.up(stack_ref, gated_program_ready(tmp_path))
    lock = _write_lock(data_dir, stack_ref, 999_999_999, "some-other-host")

    with pytest.raises(StackLockedError):
        engine.refresh(stack_ref)

    assert lock.exists()


def gated_program_ready(tmp_path: Path) -> Program:
    work = tmp_path / "ready"
    work.mkdir(exist_ok=True)
    (work / "gate").touch()
    return gated_program(work)


def test_pending_operations_other_than_creates_are_dropped_too(
    engine: Engine, stack_ref: StackRef, tmp_path: Path, data_dir: Path
) -> None:
    program = gated_program_ready(tmp_path)
    engine.up(stack_ref, program)
    # `pulumi stack import` drops pending operations, so plant one in the state file itself,
    # as an update interrupted by a crash would have left it.
    checkpoint_path = (
        data_dir / "state" / ".pulumi" / "stacks" / stack_ref.project / f"{stack_ref.stack}.json"
    )
    checkpoint = json.loads(checkpoint_path.read_text())
    latest = checkpoint["checkpoint"]["latest"]
    resource = next(r for r in latest["resources"] if r["type"].endswith("dynamic:Resource"))
    latest["pending_operations"] = [{"resource": resource, "type": "updating"}]
    checkpoint_path.write_text(json.dumps(checkpoint))
    assert [p.kind for p in _recovery.read_pending(data_dir / "state", stack_ref)] == ["updating"]

    result = engine.up(stack_ref, program)

    assert any("updating" in m for m in result.recovered)
    assert engine.export(stack_ref).pending_operations == ()
    assert not result.changed
