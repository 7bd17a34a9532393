"""Job handlers for tests and demos of the workers (register them by ``module:function``).

They live in the package because a job's child process imports its handler by name.
Each returns the pid it ran in, so a test can tell the job ran in a child process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shipyard.jobs.errors import TransientJobError
from shipyard.jobs.handlers import JobContext
from shipyard.settings import Settings

__all__ = [
    "PREPARE_FAILS",
    "crash",
    "engine_up",
    "fail_transiently",
    "prepare_job_process",
    "prepared_marker",
    "wait_for_gate",
    "write_file",
]

PREPARE_FAILS = "prepare-fails"
"""A file of this name in the data dir makes :func:`prepare_job_process` fail."""


def prepared_marker(settings: Settings, pid: int) -> Path:
    """The file :func:`prepare_job_process` leaves for the job process ``pid``."""
    return settings.data_dir / f"prepared-{pid}"


def prepare_job_process(settings: Settings, database: Engine) -> None:
    """This module's job-process warm-up: proves it ran, in which process, before which
    job (the marker's content is empty until a job of the process writes to it)."""
    if (settings.data_dir / PREPARE_FAILS).exists():
        raise RuntimeError("the warm-up failed, as the test asked")
    with database.connect():
        pass
    prepared_marker(settings, os.getpid()).write_text("")


_GATE_DEADLINE_S = 600.0
_GATE_POLL_S = 0.05


def write_file(ctx: JobContext) -> dict[str, Any]:
    """Writes ``payload.content`` to ``payload.path`` after ``payload.hold_s`` seconds of
    work; the result says when it started and ended (monotonic ns, for overlap checks)."""
    started_ns = time.monotonic_ns()
    marker = prepared_marker(ctx.settings, os.getpid())
    if marker.exists():
        marker.write_text(f"job {ctx.job_id}")
    ctx.emit("test.writing", f"writing {ctx.payload['path']}", path=ctx.payload["path"])
    time.sleep(float(ctx.payload.get("hold_s", 0.0)))  # the work itself
    Path(ctx.payload["path"]).write_text(str(ctx.payload.get("content", "")))
    return {
        "pid": os.getpid(),
        "recovery": ctx.needs_recovery,
        "started_ns": started_ns,
        "ended_ns": time.monotonic_ns(),
    }


def wait_for_gate(ctx: JobContext) -> dict[str, Any]:
    """Writes its pid to ``payload.started``, then waits until ``payload.gate`` exists;
    stops (cancelled) when the job is cancelled."""
    Path(ctx.payload["started"]).write_text(str(os.getpid()))
    gate = Path(ctx.payload["gate"])
    deadline = time.monotonic() + _GATE_DEADLINE_S
    while not gate.exists():
        ctx.raise_if_cancelled()
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate file {gate} never appeared")
        time.sleep(_GATE_POLL_S)
    return {"pid": os.getpid(), "recovery": ctx.needs_recovery, "attempt": ctx.attempt}


def fail_transiently(ctx: JobContext) -> dict[str, Any]:
    """Fails transiently on the first ``payload.failures`` attempts, then succeeds."""
    if ctx.attempt <= int(ctx.payload["failures"]):
        raise TransientJobError(f"attempt {ctx.attempt}: the service is not ready yet")
    return {"pid": os.getpid(), "attempt": ctx.attempt}


def crash(ctx: JobContext) -> dict[str, Any]:
    """Exits the process at once with ``payload.exit_code``, reporting nothing."""
    os._exit(int(ctx.payload.get("exit_code", 3)))


def engine_up(ctx: JobContext) -> dict[str, Any]:
    """A real engine ``up`` of one file resource on the job's stack, cancellable.

    With ``payload.gate`` the resource's create waits for that file (touching
    ``payload.started`` first); ``payload.cancel_grace_s`` is the engine's cancel grace.
    """
    from shipyard.engine import Engine, StackRef
    from shipyard.engine.testing import FileResource, GatedFileResource

    payload = ctx.payload
    namespace, name, environment = ctx.stack_key.split("/")
    ref = StackRef.of(f"{namespace}/{name}", environment)

    def program() -> None:
        if "gate" in payload:
            GatedFileResource(
                "file", payload["path"], payload["content"], payload["gate"], payload["started"]
            )
        else:
            FileResource("file", payload["path"], payload["content"])

    grace = float(payload.get("cancel_grace_s", 30.0))
    engine = Engine.from_settings(ctx.settings, cancel_grace_s=grace, second_grace_s=grace)
    result = engine.up(ref, program, on_event=ctx.engine_sink(), cancel=ctx.cancel)
    return {
        "pid": os.getpid(),
        "changes": dict(result.changes),
        "recovered": list(result.recovered),
    }
