"""Workers: claim jobs from the queue and run each in a child process under a lease.

A :class:`Worker` loops: take back expired leases, claim a job, run it in a child
process (:mod:`shipyard.jobs._child`) while heartbeating its lease and watching its
``cancel_requested`` flag, then record what the child reported. A crash or a cancel takes
down the child only. :func:`run_workers` runs several workers in threads of one process.

The lease is renewed, and the cancel flag read, by a thread of the job's own
(:class:`_LeaseKeeper`): a database that stops answering (a network partition) never
stalls the supervision. Unrenewed for half a lease, the job is cancelled gracefully
(SIGTERM: the engine stops Pulumi with SIGINT); unrenewed for a whole lease, measured
from before the last renewal was sent, so before the database's expiry, the child and
every process below it are killed: by the time another worker may take the stack
over, nothing of this attempt runs. Every write of the worker about the job carries
the claim's lease token (fencing, see :mod:`shipyard.jobs.queue`).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shipyard.jobs import queue
from shipyard.jobs._process import JobProcess, describe_exit, start_fork_server
from shipyard.jobs._protocol import ChildSetup, ChildSpec, Outcome, OutcomeKind
from shipyard.jobs._reach import TargetReach
from shipyard.jobs.backoff import DEFAULT_BACKOFF, Backoff
from shipyard.jobs.doorbell import DOORBELL, JOB_COMMITS
from shipyard.jobs.errors import HandlerNotFoundError, LeaseLostError
from shipyard.jobs.handlers import HandlerRegistry, default_registry
from shipyard.jobs.queue import check_lease
from shipyard.settings import Settings
from shipyard.store import open_database, transaction
from shipyard.store.events import append_event
from shipyard.store.models import Job

__all__ = ["Worker", "default_worker_id", "run_workers"]

_log = structlog.get_logger(__name__)

_STOP_CHECK_S = 0.2
"""How soon an idle worker notices ``stop``."""
_USER_CANCEL = "cancel requested"
_SHUTDOWN = "worker shutting down"
_DATABASE_LOST = "the database stopped answering"


@dataclass(slots=True)
class _Watch:
    """How the supervision of one child went."""

    cancel_reason: str | None = None
    signalled_at: float | None = None
    killed: bool = False
    unrecorded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """How the child was stopped while the database did not answer (message, data):
    recorded with the job's end, if its lease still holds then."""


class Worker:
    """Runs queued jobs one at a time, each in a child process; see the module docstring.

    ``heartbeat_every`` defaults to a third of ``lease_seconds``; ``poll_interval`` is how
    often an idle worker polls the queue and a busy one checks for a cancel. A cancelled
    child gets ``cancel_grace`` seconds to stop before it is killed; once ``stop`` is set
    a running job gets ``shutdown_grace`` seconds to finish before it is cancelled.
    """

    def __init__(
        self,
        settings: Settings,
        handlers: HandlerRegistry | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 30.0,
        heartbeat_every: float | None = None,
        poll_interval: float = 1.0,
        *,
        cancel_grace: float = 60.0,
        shutdown_grace: float = 30.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        database: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = handlers or default_registry()
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.heartbeat_every = heartbeat_every or lease_seconds / 3
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self.shutdown_grace = shutdown_grace
        self.backoff = backoff
        self._own_database = database is None
        self.database = database or open_database(settings)
        self._log = _log.bind(worker_id=self.worker_id)
        self._ready: JobProcess | None = None
        """The child that takes the next job, started and set up while the worker waits."""
        self._reap_due = 0.0
        """When the next look for expired leases is due (``time.monotonic``)."""
        self._claimed_for: int | None = None
        """The ready process the last claim recorded as its job's (``process_started``),
        when its job has a handler."""
        self._reach = TargetReach(settings, self.database)
        """The environments whose target this worker cannot reach: left queued."""
        self._claim_sent: float | None = None
        """When the last claim was sent (``time.monotonic``): its lease runs from then."""
        self._warn_unshared_secrets()

    def _warn_unshared_secrets(self) -> None:
        backend = self.settings.state_backend_url
        if not backend.startswith("file:") and self.settings.secrets_provider is None:
            self._log.warning(
                "the Pulumi state is shared but its passphrase is this host's own file: "
                "secrets will not decrypt on other hosts; set SHIPYARD_SECRETS_PROVIDER="
                "passphrase and PULUMI_CONFIG_PASSPHRASE on every host (or a KMS URL)",
                backend=backend.split("?")[0],
            )

    def run(self, stop: threading.Event) -> None:
        """Serve jobs until ``stop`` is set; a job running then gets ``shutdown_grace``."""
        # The database driver too: each job's process connects (psycopg's import alone
        # took 0.17 s of every job on PostgreSQL).
        driver = self.database.dialect.loaded_dbapi.__name__
        start_fork_server([driver, *self._handler_modules()])
        self._log.info("worker started", lease_seconds=self.lease_seconds)
        try:
            while not stop.is_set():
                seen = DOORBELL.rings
                job = self._next_job()
                if job is None:
                    self._idle(seen, stop)
                    continue
                self.run_job(job, stop)
        finally:
            if self._ready is not None:
                self._ready.close()
                self._ready = None
            if self._own_database:
                self.database.dispose()
            self._log.info("worker stopped")

    def _idle(self, seen: int, stop: threading.Event) -> None:
        """Wait for the next poll, a job queued in this process, or ``stop``."""
        deadline = time.monotonic() + self.poll_interval
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or DOORBELL.wait(seen, min(left, _STOP_CHECK_S)):
                return

    def _next_job(self) -> Job | None:
        try:
            # Leases expire in tens of seconds: a look once per poll is soon enough, and
            # a claim woken by the doorbell (a request of this process) skips a write.
            now = time.monotonic()
            if now >= self._reap_due:
                self._reap_due = now + self.poll_interval
                for reaped in queue.reap_expired(self.database):
                    self._log.warning("took back a job whose lease expired", job_id=reaped.id)
            process = self._ready_process()

            def started(session: Session, job: Job) -> None:
                self._record_start(session, job, process)

            skip = self._reach.unreachable()
            self._claim_sent = time.monotonic()
            job = queue.claim(
                self.database,
                self.worker_id,
                self.lease_seconds,
                then=started,
                skip_environments=skip,
            )
            self._claimed_for = process.pid if job is not None else None
            return job
        except SQLAlchemyError as exc:
            self._log.warning("cannot reach the job queue; retrying", error=str(exc))
            return None

    def run_job(self, job: Job, stop: threading.Event) -> None:
        """Run a claimed job to its recorded end (or until its lease is lost)."""
        with structlog.contextvars.bound_contextvars(
            job_id=job.id, job_kind=job.kind.value, stack_key=job.stack_key
        ):
            self._log.info("job claimed", attempt=job.attempts, recovery=job.needs_recovery)
            try:
                self._supervise(job, stop)
            except LeaseLostError as exc:
                self._log.warning("lease lost: the job was stopped", error=str(exc))
            except Exception as exc:  # noqa: BLE001  the job's outermost edge: logged, recorded
                self._log.exception("the worker failed while running the job")
                self._fail_quietly(job, f"worker error: {exc!r}")

    # -- one job ----------------------------------------------------------------------

    def _supervise(self, job: Job, stop: threading.Event) -> None:
        try:
            handler = self.handlers.target(job.kind)
        except HandlerNotFoundError as exc:
            self._fail(job, str(exc))
            return
        with tempfile.TemporaryDirectory(prefix=f"shipyard-job-{job.id}-") as scratch:
            spec = self._spec(job, handler, Path(scratch) / "outcome.json")
            process = self._take_ready()
            recorded = self._claimed_for == process.pid  # else it died since: a new one
            try:
                process = self._begin(job, process, spec, recorded=recorded)
                watch = self._watch(job, process, stop)
                outcome = process.outcome()
            finally:
                process.close()
        self._record(job, process, outcome, watch)

    def _handler_modules(self) -> tuple[str, ...]:
        return tuple(sorted({target.partition(":")[0] for _kind, target in self.handlers}))

    def _setup(self) -> ChildSetup:
        return ChildSetup(
            settings=self.settings,
            orphan_grace_s=self.cancel_grace,
            handler_modules=self._handler_modules(),
        )

    def _spec(self, job: Job, handler: str, outcome_path: Path) -> ChildSpec:
        return ChildSpec(
            job_id=job.id,
            kind=job.kind.value,
            stack_key=job.stack_key,
            payload=dict(job.payload),
            attempt=job.attempts,
            needs_recovery=job.needs_recovery,
            handler=handler,
            outcome_path=str(outcome_path),
            lease_token=job.lease_token,
        )

    def _ready_process(self) -> JobProcess:
        """The child made ready for the next job (started before each claim, so at the
        worker's start and right after each job), or a new one if that one died."""
        process = self._ready
        if process is not None and process.alive():
            return process
        if process is not None:
            self._log.warning(
                "the job process made ready for this job is gone: starting another",
                pid=process.pid,
            )
            process.close()
        self._ready = JobProcess(self._setup())
        return self._ready

    def _take_ready(self) -> JobProcess:
        process = self._ready_process()
        self._ready = None
        return process

    def _record_start(self, session: Session, job: Job, process: JobProcess) -> None:
        """The claim's own records of the job's start, in its transaction: a recovery
        notice, and the process that will run the job (so the record names the process
        before anything the job does). Nothing for a job no handler runs."""
        try:
            handler = self.handlers.target(job.kind)
        except HandlerNotFoundError:
            return  # the job fails as soon as it is supervised
        if job.needs_recovery:
            append_event(
                session,
                job.id,
                "recovery",
                f"attempt {job.attempts}: the stack's previous job (or this job's previous "
                "attempt) was interrupted; the stack is taken over first (the locks it left, "
                "on any host; then the engine's pending operations)",
                level="warning",
            )
        _record_process(session, job, process, handler)

    def _begin(
        self, job: Job, process: JobProcess, spec: ChildSpec, *, recorded: bool, retry: bool = True
    ) -> JobProcess:
        """Hand the child the job, its start recorded first (by the claim, else here); the
        child that runs it. One that died just before gets one successor; a successor
        that cannot take the job either is recorded as died by the caller."""
        if not recorded:
            try:
                with transaction(self.database) as session:
                    _record_process(session, job, process, spec.handler)
            except SQLAlchemyError as exc:
                self._log.warning("could not record the job's process", error=str(exc))
        if process.begin(spec) or not retry:
            return process
        self._log.warning("the job process died before its job: starting another", pid=process.pid)
        process.close()
        return self._begin(job, JobProcess(self._setup()), spec, recorded=False, retry=False)

    def _watch(self, job: Job, process: JobProcess, stop: threading.Event) -> _Watch:
        """Watch the child until it exits: its lease (kept by a thread), a cancel, ``stop``."""
        watch = _Watch()
        keeper = _LeaseKeeper(self, job)
        keeper.start()
        stopping_since: float | None = None

        def committed() -> None:
            JOB_COMMITS.ring(job.id)

        try:
            while process.wait(self.poll_interval, on_commit=committed) is None:
                now = time.monotonic()
                self._check_lease(job, process, watch, keeper, now)
                if watch.cancel_reason is None and keeper.cancel_requested:
                    watch.cancel_reason = _USER_CANCEL
                if stop.is_set() and stopping_since is None:
                    stopping_since = now
                    self._log.info(
                        "stopping: the running job may finish", grace=self.shutdown_grace
                    )
                if (
                    watch.cancel_reason is None
                    and stopping_since is not None
                    and now - stopping_since >= self.shutdown_grace
                ):
                    watch.cancel_reason = _SHUTDOWN
                self._escalate(job, process, watch, now)
        finally:
            keeper.stop.set()
        return watch

    def _check_lease(
        self, job: Job, process: JobProcess, watch: _Watch, keeper: _LeaseKeeper, now: float
    ) -> None:
        if keeper.lost:
            self._log.warning("lease lost: killing the job process", pid=process.pid)
            process.kill()
            raise LeaseLostError(job.id, self.worker_id)
        unrenewed = now - keeper.renewed
        if unrenewed >= self.lease_seconds:
            self._log.warning(
                "the lease ran out unrenewed: killing the job process before another "
                "worker may take the job over",
                pid=process.pid,
                unrenewed_s=round(unrenewed, 1),
            )
            process.kill()
            raise LeaseLostError(job.id, self.worker_id)
        # Half the lease, unless renewals come too seldom for that to mean anything.
        graceful_after = min(
            max(self.lease_seconds / 2, self.heartbeat_every + 2 * self.poll_interval),
            self.lease_seconds * 0.9,
        )
        if unrenewed >= graceful_after and watch.cancel_reason is None:
            self._log.warning(
                "the database has not renewed the lease for half of it: cancelling the job",
                unrenewed_s=round(unrenewed, 1),
            )
            watch.cancel_reason = _DATABASE_LOST

    def _escalate(self, job: Job, process: JobProcess, watch: _Watch, now: float) -> None:
        if watch.cancel_reason is None:
            return
        if watch.signalled_at is None:
            watch.signalled_at = now
            process.interrupt()
            self._stopped(
                job,
                watch,
                f"cancel ({watch.cancel_reason}): SIGTERM to job process {process.pid}; "
                f"it has {self.cancel_grace:g} s to stop",
                pid=process.pid,
            )
        elif not watch.killed and now - watch.signalled_at >= self.cancel_grace:
            watch.killed = True
            others = process.kill()
            self._stopped(
                job,
                watch,
                f"cancel ({watch.cancel_reason}): job process {process.pid} did not stop within "
                f"{self.cancel_grace:g} s: SIGKILL to it and {len(others)} process(es) below it",
                pid=process.pid,
                killed=others,
            )

    def _stopped(self, job: Job, watch: _Watch, message: str, **data: Any) -> None:
        """Record how the child was stopped: now, or with the job's end when the stop
        is because the database does not answer (a slow one answers again by then; a
        job taken over meanwhile gets nothing: its lease token no longer matches)."""
        if watch.cancel_reason == _DATABASE_LOST:
            watch.unrecorded.append((message, data))
            return
        self._event(job, "cancel", message, level="warning", **data)

    # -- recording the end ------------------------------------------------------------

    def _record(
        self, job: Job, process: JobProcess, outcome: Outcome | None, watch: _Watch
    ) -> None:
        token = job.lease_token
        for message, data in watch.unrecorded:
            self._event(job, "cancel", message, level="warning", **data)
        if outcome is not None and outcome.kind is OutcomeKind.succeeded:
            queue.complete(self.database, job.id, self.worker_id, outcome.result, lease_token=token)
            self._log.info("job succeeded")
        elif watch.cancel_reason in (_SHUTDOWN, _DATABASE_LOST):
            queue.release(
                self.database, job.id, self.worker_id, watch.cancel_reason, lease_token=token
            )
            self._log.info("job given back", reason=watch.cancel_reason)
        elif watch.cancel_reason == _USER_CANCEL:
            if outcome is None:
                self._died(job, process)
            elif outcome.kind is OutcomeKind.failed:
                self._event(job, "cancel", f"the cancelled job ended with: {outcome.error}")
            queue.mark_cancelled(
                self.database,
                job.id,
                self.worker_id,
                interrupted=outcome is None,
                lease_token=token,
            )
            self._log.info("job cancelled")
        elif outcome is None:
            self._fail(job, self._died(job, process), interrupted=True)
        else:
            error = outcome.error or "no error message"
            self._fail(job, error, transient=outcome.transient)

    def _died(self, job: Job, process: JobProcess) -> str:
        code = process.returncode
        assert code is not None
        how = describe_exit(code)
        message = f"job process {process.pid} {how} without reporting an outcome"
        self._event(
            job,
            "process_died",
            message,
            level="error",
            pid=process.pid,
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
        )
        return message

    def _fail(
        self, job: Job, error: str, *, transient: bool = False, interrupted: bool = False
    ) -> None:
        done = queue.fail(
            self.database,
            job.id,
            self.worker_id,
            error,
            transient=transient,
            interrupted=interrupted,
            lease_token=job.lease_token,
            backoff=self.backoff,
        )
        self._log.warning("job failed", error=error, transient=transient, state=done.state.value)

    def _fail_quietly(self, job: Job, error: str) -> None:
        """Best effort at the outermost edge: the lease may be gone, the database down."""
        try:
            self._fail(job, error)
        except (LeaseLostError, SQLAlchemyError) as exc:
            self._log.warning("could not record the job's failure", error=str(exc))

    def _event(
        self, job: Job, kind: str, message: str, *, level: str = "info", **data: Any
    ) -> None:
        try:
            with transaction(self.database) as session:
                check_lease(session, job.id, job.lease_token, worker_id=self.worker_id)
                append_event(session, job.id, kind, message, level=level, data=data or None)
        except (SQLAlchemyError, LeaseLostError) as exc:
            self._log.warning("could not record an event", event=message, error=str(exc))


def default_worker_id(index: int = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


def run_workers(
    settings: Settings,
    count: int,
    stop_event: threading.Event,
    *,
    handlers: HandlerRegistry | None = None,
    lease_seconds: float = 30.0,
    poll_interval: float = 1.0,
    cancel_grace: float = 60.0,
    shutdown_grace: float = 30.0,
) -> None:
    """Run ``count`` workers in threads of this process until ``stop_event`` is set and
    their running jobs ended (finished within ``shutdown_grace``, else cancelled)."""
    database = open_database(settings)
    workers = [
        Worker(
            settings,
            handlers,
            default_worker_id(index),
            lease_seconds,
            poll_interval=poll_interval,
            cancel_grace=cancel_grace,
            shutdown_grace=shutdown_grace,
            database=database,
        )
        for index in range(count)
    ]
    threads = [
        threading.Thread(target=worker.run, args=(stop_event,), name=f"shipyard-worker-{index}")
        for index, worker in enumerate(workers)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=1.0)  # short joins keep the main thread responsive
    finally:
        database.dispose()


def _record_process(session: Session, job: Job, process: JobProcess, handler: str) -> None:
    append_event(
        session,
        job.id,
        "process_started",
        f"job process {process.pid} started (attempt {job.attempts})",
        data={"pid": process.pid, "handler": handler},
    )


class _LeaseKeeper(threading.Thread):
    """Renews a running job's lease every ``heartbeat_every`` and reads its cancel flag
    every ``poll_interval``, in a thread of its own: a database that hangs (a dropped
    link) stalls this thread, never the supervision, which reads what it found."""

    def __init__(self, worker: Worker, job: Job) -> None:
        super().__init__(name=f"shipyard-lease-{job.id}", daemon=True)
        self._worker = worker
        self._job = job
        self.stop = threading.Event()
        claimed = worker._claim_sent
        self.renewed = time.monotonic() if claimed is None else claimed
        """When the last renewal that succeeded was sent (the claim's time at first)."""
        self.lost = False
        """The queue said the lease is gone (expired, reaped, claimed again)."""
        self.cancel_requested = False

    def run(self) -> None:
        worker, job = self._worker, self._job
        # Due a heartbeat after the claim, however long the job took to begin: the
        # supervision counts the lease from the claim.
        next_heartbeat = self.renewed + worker.heartbeat_every
        while not self.stop.wait(worker.poll_interval):
            sent = time.monotonic()
            if sent < next_heartbeat:
                self.cancel_requested |= self._read_cancel_flag()
                continue
            try:
                lease = queue.heartbeat(
                    worker.database,
                    job.id,
                    worker.worker_id,
                    worker.lease_seconds,
                    lease_token=job.lease_token,
                )
            except LeaseLostError:
                self.lost = True
                return
            except SQLAlchemyError as exc:
                worker._log.warning("heartbeat failed; retrying", error=str(exc))
                continue  # again at the next poll
            self.renewed = sent
            self.cancel_requested |= lease.cancel_requested
            next_heartbeat = sent + worker.heartbeat_every

    def _read_cancel_flag(self) -> bool:
        worker, job = self._worker, self._job
        try:
            with transaction(worker.database, read_only=True) as session:
                return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job.id)))
        except SQLAlchemyError as exc:
            worker._log.warning("cannot read the cancel flag", error=str(exc))
            return False
