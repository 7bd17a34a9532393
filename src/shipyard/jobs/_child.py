"""The child process a job runs in: :func:`run` is its entry point.

It imports the job's handler, runs it with a :class:`JobContext`, and writes the outcome
file. SIGTERM or SIGINT trips the context's ``CancelToken`` (the engine then cancels
Pulumi gracefully); so does the end of the worker's pipe, which means the worker died:
an orphan gets ``orphan_grace_s`` to stop, then exits anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, configure_mappers

from shipyard.engine.cancel import CancelToken
from shipyard.jobs._protocol import ChildSpec, Outcome, OutcomeKind, write_outcome
from shipyard.jobs.errors import JobCancelledError
from shipyard.jobs.handlers import Emit, JobContext, load_handler
from shipyard.logs import configure_logging
from shipyard.settings import Settings
from shipyard.store import READ_ONLY, create_engine, transaction
from shipyard.store.enums import JobKind
from shipyard.store.events import append_event

__all__ = ["ready", "run"]

_log = structlog.get_logger(__name__)
_ORPHAN_EXIT = 70

# The ORM configures its mappers on first use. The fork server imports this module, so
# doing it here spares every job's process that work (10 ms here).
configure_mappers()


def ready() -> None:
    """A no-op child: proves the fork server is up and has imported this module."""


def run(spec: ChildSpec, worker: Connection, commits: Connection) -> None:
    """Run the job of ``spec``; ``worker`` is a pipe whose end means the worker died;
    a byte on ``commits`` tells the worker the job committed a write."""
    os.setsid()  # a signal meant for the worker (Ctrl-C) never reaches the job
    settings = spec.settings
    configure_logging(settings.log_format)
    token = CancelToken()
    _cancel_on_signals(token)
    _cancel_when_orphaned(token, worker, spec.orphan_grace_s)
    _report_commits(commits)
    database = create_engine(settings)
    try:
        with structlog.contextvars.bound_contextvars(
            job_id=spec.job_id, job_kind=spec.kind, stack_key=spec.stack_key, pid=os.getpid()
        ):
            outcome = _run(spec, settings, token, database)
            write_outcome(Path(spec.outcome_path), outcome)
    finally:
        database.dispose()


def _run(spec: ChildSpec, settings: Settings, token: CancelToken, database: Engine) -> Outcome:
    context = JobContext(
        job_id=spec.job_id,
        kind=JobKind(spec.kind),
        stack_key=spec.stack_key,
        payload=spec.payload,
        attempt=spec.attempt,
        needs_recovery=spec.needs_recovery,
        settings=settings,
        cancel=token,
        emit=Emit(_appender(database, spec.job_id)),
    )
    try:
        result = load_handler(spec.handler)(context)
        json.dumps(result)
    except Exception as exc:  # noqa: BLE001  the job's outermost edge: logged, then recorded
        if _is_cancellation(exc):
            _log.info("job cancelled", reason=str(exc))
            return Outcome(OutcomeKind.cancelled, error=str(exc))
        _log.exception("job failed")
        error = f"{type(exc).__name__}: {exc}"
        return Outcome(OutcomeKind.failed, error=error, transient=_is_transient(exc))
    if not isinstance(result, dict):
        error = f"handler {spec.handler} returned {type(result).__name__}, not a dict"
        return Outcome(OutcomeKind.failed, error=error)
    _log.info("job finished")
    return Outcome(OutcomeKind.succeeded, result=result)


def _appender(
    database: Engine, job_id: int
) -> Callable[[str, str, str, dict[str, Any] | None], None]:
    def append(kind: str, message: str, level: str, data: dict[str, Any] | None) -> None:
        with transaction(database) as session:
            append_event(session, job_id, kind, message, level=level, data=data)

    return append


def _is_cancellation(exc: Exception) -> bool:
    if isinstance(exc, JobCancelledError):
        return True
    # Only look for the engine's error when the engine was loaded: keeps light jobs light.
    engine_errors = sys.modules.get("shipyard.engine.errors")
    return engine_errors is not None and isinstance(exc, engine_errors.OperationCancelledError)


def _is_transient(exc: Exception) -> bool:
    if getattr(exc, "transient", False) is True:
        return True
    engine_errors = sys.modules.get("shipyard.engine.errors")
    return engine_errors is not None and isinstance(exc, engine_errors.StackLockedError)


def _cancel_on_signals(token: CancelToken) -> None:
    """SIGTERM/SIGINT trip ``token`` from a thread: the token's subscribers take locks
    that the interrupted main thread may hold, so a signal handler must not call them."""
    requested = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        requested.set()

    def trip() -> None:
        requested.wait()
        _log.warning("cancel requested by signal", signal=received[0])
        token.cancel()

    threading.Thread(target=trip, name="shipyard-job-cancel", daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _report_commits(commits: Connection) -> None:
    """After each committed write transaction of this process (its events, its records),
    a byte to the worker, which wakes the API's live event streams of the job. Never
    blocks: a full pipe already says there is news, a gone worker is the orphan watch's
    business."""
    os.set_blocking(commits.fileno(), False)

    def committed(session: Session) -> None:
        if session.get_bind().get_execution_options().get(READ_ONLY):
            return
        with contextlib.suppress(OSError):  # BlockingIOError, BrokenPipeError, closed
            os.write(commits.fileno(), b"c")

    event.listen(Session, "after_commit", committed)


def _cancel_when_orphaned(token: CancelToken, worker: Connection, grace_s: float) -> None:
    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            worker.recv()  # the worker never sends: this ends when the worker is gone
        _log.warning("the worker is gone: cancelling the job", grace_s=grace_s)
        token.cancel()
        deadline = threading.Timer(grace_s, os._exit, args=(_ORPHAN_EXIT,))
        deadline.daemon = True
        deadline.start()

    threading.Thread(target=watch, name="shipyard-job-orphan", daemon=True).start()
