"""The child process a job runs in: :func:`serve` is its entry point.

It gets ready, waits for its job's spec, imports the job's handler, runs it with a
:class:`JobContext`, and writes the outcome file. SIGTERM or SIGINT trips the context's
``CancelToken`` (the engine then cancels Pulumi gracefully); so does the end of the
worker's pipe, which means the worker died: an orphan gets ``orphan_grace_s`` to stop,
then exits anyway.

Fencing: every write of the job checks the claim's lease token before it commits (a
``before_commit`` hook on every session of the process, and the event writer's own
transactions): a job whose lease was taken over writes nothing more. Recovery by lease:
a job claimed with ``needs_recovery`` takes its stack's Pulumi locks over before its
handler runs (:func:`shipyard.engine._recovery.take_over_locks`), with a ``recovery``
event saying what was removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, configure_mappers

from shipyard.engine.cancel import CancelToken
from shipyard.jobs._protocol import ChildSetup, ChildSpec, Outcome, OutcomeKind, write_outcome
from shipyard.jobs.errors import EventsNotStoredError, JobCancelledError
from shipyard.jobs.handlers import PREPARE_PROCESS, Emit, JobContext, load_handler
from shipyard.jobs.queue import check_lease
from shipyard.logs import configure_logging
from shipyard.settings import Settings
from shipyard.store import READ_ONLY, open_database
from shipyard.store.enums import JobKind
from shipyard.store.events import NewEvent, append_events

if TYPE_CHECKING:
    from shipyard.engine.names import StackRef

__all__ = ["ready", "serve"]

_log = structlog.get_logger(__name__)
_ORPHAN_EXIT = 70
_PULUMI_KINDS = frozenset(
    {JobKind.provision, JobKind.deploy, JobKind.preview, JobKind.refresh, JobKind.destroy}
)
"""The kinds whose stack lane is a Pulumi stack (``namespace/name/environment``)."""

# The ORM configures its mappers on first use. The fork server imports this module, so
# doing it here spares every job's process that work (10 ms here).
configure_mappers()


def ready() -> None:
    """A no-op child: proves the fork server is up and has imported this module."""


def serve(setup: ChildSetup, jobs: Connection, worker: Connection, commits: Connection) -> None:
    """Get ready for a job, wait for its spec on ``jobs``, run it. ``worker`` is a pipe
    whose end means the worker died; a byte on ``commits`` tells the worker the job
    committed a write. A worker starts its next child while the current job ends, so the
    child's setup (its session, logging, signal handlers, database connection, the
    handler modules' warm-up) is done before the job is claimed; ``jobs`` closing before a
    spec came ends the child."""
    os.setsid()  # a signal meant for the worker (Ctrl-C) never reaches the job
    settings = setup.settings
    configure_logging(settings.log_format)
    token = CancelToken()
    _cancel_on_signals(token)
    _cancel_when_orphaned(token, worker, setup.orphan_grace_s)
    report_commit = _report_commits(commits)
    database = open_database(settings)
    try:
        with contextlib.suppress(SQLAlchemyError):  # the job's first query reports it
            database.connect().close()  # its pool keeps the connection for the job
        _prepare(setup, database)
        try:
            spec: ChildSpec = jobs.recv()
        except (EOFError, OSError):
            return  # the worker needs no job of it after all
        finally:
            jobs.close()
        with structlog.contextvars.bound_contextvars(
            job_id=spec.job_id, job_kind=spec.kind, stack_key=spec.stack_key, pid=os.getpid()
        ):
            if spec.lease_token is not None:
                _fence_sessions(spec.job_id, spec.lease_token)
            outcome = _run(spec, settings, token, database, report_commit)
            write_outcome(Path(spec.outcome_path), outcome)
    finally:
        database.dispose()


def _prepare(setup: ChildSetup, database: Engine) -> None:
    """Run the handler modules' :data:`~shipyard.jobs.handlers.PREPARE_PROCESS` hooks: a
    job's first steps run cold in a new process (its queries compiled, its files parsed
    for the first time), so the hooks do them once before the job is known. A hook that
    fails is logged and skipped: the job does the work itself."""
    for module_name in setup.handler_modules:
        try:
            hook = getattr(importlib.import_module(module_name), PREPARE_PROCESS, None)
            if hook is not None:
                hook(setup.settings, database)
        except Exception:  # noqa: BLE001  a warm-up never stops the job
            _log.warning("preparing the job process failed", module=module_name, exc_info=True)


def _run(
    spec: ChildSpec,
    settings: Settings,
    token: CancelToken,
    database: Engine,
    report_commit: Callable[[], None],
) -> Outcome:
    events = _EventWriter(database, spec.job_id, report_commit, spec.lease_token)
    context = JobContext(
        job_id=spec.job_id,
        kind=JobKind(spec.kind),
        stack_key=spec.stack_key,
        payload=spec.payload,
        attempt=spec.attempt,
        needs_recovery=spec.needs_recovery,
        settings=settings,
        cancel=token,
        emit=Emit(events.append, events.flush),
        database=database,
    )
    try:
        if spec.needs_recovery and JobKind(spec.kind) in _PULUMI_KINDS:
            _take_over_stack(spec, settings, database, events)
        result = load_handler(spec.handler)(context)
        json.dumps(result)
        events.close()
    except Exception as exc:  # noqa: BLE001  the job's outermost edge: logged, then recorded
        if JobKind(spec.kind) in _PULUMI_KINDS and _killed_its_cli(exc):
            # The stack is still this job's (its lease holds): the lock its killed CLI
            # left is removed now, not by the next job's recovery.
            with contextlib.suppress(EventsNotStoredError):
                _take_over_stack(spec, settings, database, events, own=True)
        with contextlib.suppress(EventsNotStoredError):  # the handler's error says more
            events.close()
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


def _killed_its_cli(exc: Exception) -> bool:
    """A cancel the engine escalated past its first SIGINT: the CLI may have died holding
    the stack's lock (a ``file://`` lock of a dead local process the engine removes
    itself; another backend's it cannot judge)."""
    engine_errors = sys.modules.get("shipyard.engine.errors")
    return (
        engine_errors is not None
        and isinstance(exc, engine_errors.OperationCancelledError)
        and exc.escalation != "SIGINT"
    )


def _take_over_stack(
    spec: ChildSpec,
    settings: Settings,
    database: Engine,
    events: _EventWriter,
    *,
    own: bool = False,
) -> None:
    """The stack's previous attempt or job was interrupted (its lease expired, its process
    died): remove the Pulumi locks it left, on whatever host it ran, with a ``recovery``
    event (none when there was nothing to remove). Its pending operations are the
    engine's (its recovery before every operation)."""
    # Imported only when recovering: keeps light jobs light.
    from shipyard.engine import StackRef, _recovery
    from shipyard.engine.toolchain import ensure_pulumi

    component, _, environment = spec.stack_key.rpartition("/")
    ref = StackRef.of(component, environment)
    found = _shared_state_locks(settings, database, ref)
    if found == []:
        return  # the state is in the store's server, and the stack has no lock there
    takeover = _recovery.take_over_locks(settings, ensure_pulumi(settings), ref)
    if found and not takeover.removed and takeover.error is None:
        takeover = dataclasses.replace(takeover, removed=tuple(found))
    if takeover.method == "lock files" and not takeover.removed:
        return
    message = f"recovery: {takeover.describe()}"
    if own:
        message = message.replace("the interrupted job", "this job's cancelled operation")
    events.append(
        "recovery",
        message,
        "warning",
        {"method": takeover.method, "removed": list(takeover.removed), "error": takeover.error},
    )
    _log.warning(message, stack=str(ref))


def _shared_state_locks(settings: Settings, database: Engine, ref: StackRef) -> list[str] | None:
    """The stack's locks, described, when its state is the store's own ``pulumi_state``
    table (one query instead of a CLI start); None for any other backend."""
    from shipyard.engine import _recovery
    from shipyard.settings import shared_state_url

    url = settings.database_url
    shared = shared_state_url(url) if url else None
    if shared is None or settings.state_backend_url != shared:
        return None
    pattern = f"%/.pulumi/locks/organization/{ref.project}/{ref.stack}/%".replace("_", r"\_")
    try:
        with database.connect() as connection:
            if connection.scalar(text("SELECT to_regclass('pulumi_state')")) is None:
                return []
            rows = connection.execute(
                text("SELECT key, data FROM pulumi_state WHERE key LIKE :pattern"),
                {"pattern": pattern},
            ).all()
    except SQLAlchemyError:
        return None  # pulumi cancel still removes them
    described = []
    for row in rows:
        lock = _recovery.lock_from_blob(str(row.key), row.data)
        described.append(lock.describe() if lock is not None else f"an unreadable lock {row.key}")
    return described


def _fence_sessions(job_id: int, lease_token: int) -> None:
    """Before any session of this process commits, check the job still holds its lease."""

    def fence(session: Session) -> None:
        if not session.get_bind().get_execution_options().get(READ_ONLY):
            check_lease(session, job_id, lease_token)

    event.listen(Session, "before_commit", fence)


class _EventWriter:
    """Stores the job's events, in the order given, from a thread of its own: the one who
    gives an event (an engine event, a build's log line) never waits for the database,
    and the events given while one write runs go together into the next (one
    transaction, one commit, one wake-up of the live streams for a burst of engine
    events, instead of one each). The first event after a quiet spell is written at once.
    """

    def __init__(
        self,
        database: Engine,
        job_id: int,
        on_commit: Callable[[], None] = lambda: None,
        lease_token: int | None = None,
    ) -> None:
        self._database = database
        self._job_id = job_id
        self._lease_token = lease_token
        self._on_commit = on_commit
        self._changed = threading.Condition()
        self._pending: list[NewEvent] = []
        self._writing = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="shipyard-job-events", daemon=True)
        self._thread.start()

    def append(self, kind: str, message: str, level: str, data: dict[str, Any] | None) -> None:
        event = NewEvent(kind, message, level, data)
        with self._changed:
            self._raise_error()
            if self._closed:
                raise EventsNotStoredError(f"the events of job {self._job_id} are closed")
            self._pending.append(event)
            self._changed.notify_all()

    def flush(self) -> None:
        """Return once every event given so far is committed."""
        with self._changed:
            while (self._pending or self._writing) and self._error is None:
                self._changed.wait()
            self._raise_error()

    def close(self) -> None:
        """Flush, then stop the thread."""
        try:
            self.flush()
        finally:
            with self._changed:
                self._closed = True
                self._changed.notify_all()
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise EventsNotStoredError(
                f"the events of job {self._job_id} could not be stored: {self._error}"
            ) from self._error

    def _write(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                self._writing = True
            try:
                with self._database.begin() as connection:
                    if self._lease_token is not None:
                        check_lease(connection, self._job_id, self._lease_token)
                    append_events(connection, self._job_id, batch)
                self._on_commit()
            except BaseException as exc:  # noqa: BLE001  handed to the next append or flush
                with self._changed:
                    self._error, self._writing = exc, False
                    self._changed.notify_all()
                return
            with self._changed:
                self._writing = False
                self._changed.notify_all()


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


def _report_commits(commits: Connection) -> Callable[[], None]:
    """After each committed write transaction of this process (its events, its records),
    a byte to the worker, which wakes the API's live event streams of the job. Never
    blocks: a full pipe already says there is news, a gone worker is the orphan watch's
    business. Returns the report, for writes made without an ORM session."""
    os.set_blocking(commits.fileno(), False)

    def report() -> None:
        with contextlib.suppress(OSError):  # BlockingIOError, BrokenPipeError, closed
            os.write(commits.fileno(), b"c")

    def committed(session: Session) -> None:
        if not session.get_bind().get_execution_options().get(READ_ONLY):
            report()

    event.listen(Session, "after_commit", committed)
    return report


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
