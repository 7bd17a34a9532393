"""A deployment's events as Server-Sent Events: the stored history, then live ones.

Live events are found by polling the events table (one indexed query per tick), so the
stream works whichever process writes them; when a worker of this process runs the job,
each commit of the job's process wakes the stream at once (``JOB_COMMITS``) instead of
its next tick, and the ticks slow down to a safety net (a 2 s deploy took 40 reads of
the table per follower, most of them finding nothing). Each event's ``id`` is its ``seq``: a client
that reconnects with ``Last-Event-ID`` gets only what it missed. The stream ends with an
``end`` event once the deployment is finished and every event has been sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread
from sqlalchemy import Engine

from shipyard.api.schemas import EventRead
from shipyard.jobs.doorbell import JOB_COMMITS
from shipyard.store import READ_ONLY
from shipyard.store.deployments import deployment_progress
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import events_after

__all__ = ["EventStreamOptions", "deployment_events"]

_BATCH = 500
_FINISHED = frozenset(
    {
        DeploymentStatus.succeeded,
        DeploymentStatus.failed,
        DeploymentStatus.cancelled,
        DeploymentStatus.unchanged,
    }
)


@dataclass(frozen=True, slots=True)
class EventStreamOptions:
    poll_interval: float = 0.05
    """Seconds between two looks at the events table while the deployment runs."""
    woken_poll_interval: float = 1.0
    """The same, once the job's commits have woken the stream (its worker runs in this
    process and reports each one): a look then only guards against a missed wake-up."""
    keepalive: float = 15.0
    """Seconds of silence after which a comment line keeps proxies from closing."""


@dataclass(frozen=True, slots=True)
class _Tick:
    events: list[EventRead]
    status: DeploymentStatus
    job_id: int | None


def _read(database: Engine, deployment_id: int, after_seq: int) -> _Tick:
    # Plain statements on a connection: a stream reads at every commit of its job.
    with database.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        # Status first: every event written before a finished status is then seen below.
        status, job_id = deployment_progress(connection, deployment_id)
        if job_id is None:
            return _Tick([], status, None)
        rows = events_after(connection, job_id, after_seq=after_seq, limit=_BATCH)
        return _Tick([EventRead(**row._mapping) for row in rows], status, job_id)


def _frame(event: EventRead) -> bytes:
    return f"id: {event.seq}\ndata: {event.model_dump_json()}\n\n".encode()


def _end(status: DeploymentStatus) -> bytes:
    return f"event: end\ndata: {json.dumps({'status': status.value})}\n\n".encode()


async def deployment_events(
    database: Engine,
    deployment_id: int,
    *,
    after_seq: int = 0,
    follow: bool = True,
    is_disconnected: Callable[[], Awaitable[bool]],
    options: EventStreamOptions = EventStreamOptions(),
) -> AsyncIterator[bytes]:
    """SSE frames of the deployment's events after ``after_seq``; without ``follow``,
    the stored ones only."""
    yield b"retry: 1000\n\n"
    quiet_since = time.monotonic()
    job_id: int | None = None  # known after the first read (a deployment keeps its job)
    while True:
        # Read before the events, so a commit while they are read is not missed below.
        seen = JOB_COMMITS.count(job_id) if job_id is not None else 0
        tick = await anyio.to_thread.run_sync(_read, database, deployment_id, after_seq)
        if job_id is None and tick.job_id is not None:
            job_id, seen = tick.job_id, JOB_COMMITS.count(tick.job_id)
        for event in tick.events:
            yield _frame(event)
            after_seq = event.seq
        if len(tick.events) == _BATCH:
            continue
        if tick.status in _FINISHED or not follow:
            yield _end(tick.status)
            return
        if tick.events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= options.keepalive:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        if await is_disconnected():
            return
        if job_id is None:
            await anyio.sleep(options.poll_interval)
        else:  # woken by the job's next commit when a worker of this process runs it
            woken = seen > 0  # its commits ring here: no need to poll often
            interval = options.woken_poll_interval if woken else options.poll_interval
            await JOB_COMMITS.wait(job_id, seen, interval)
