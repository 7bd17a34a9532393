"""A deployment's events as Server-Sent Events: the stored history, then live ones.

Live events are found by polling the events table (one indexed query per tick), so the
stream works whichever process writes them; when a worker of this process runs the job,
each commit of the job's process wakes the stream at once (``JOB_COMMITS``) instead of
its next tick, and the ticks slow down to a safety net (a 2 s deploy took 40 reads of
the table per follower, most of them finding nothing). On PostgreSQL the same wake-up
comes from the database for a job run by any process on any host: its event commits
``NOTIFY`` and this process's one listener (``shipyard.jobs._listen``) rings the job.
Each event's ``id`` is its ``seq``: a client that reconnects with ``Last-Event-ID`` gets
only what it missed. The stream ends with an ``end`` event once the deployment is
finished and every event has been sent. Silence is broken by a comment line every
``keepalive`` seconds, and :data:`SSE_HEADERS` keep proxies from caching, transforming
or buffering the stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass

import anyio
import anyio.to_thread
from sqlalchemy import Engine

from shipyard.api.schemas import EventRead
from shipyard.jobs._listen import JobEventsListener, job_events_listener
from shipyard.jobs.doorbell import JOB_COMMITS
from shipyard.store import READ_ONLY
from shipyard.store.deployments import deployment_progress
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import events_after

__all__ = ["SSE_HEADERS", "EventStreamOptions", "deployment_events"]

SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
"""Headers of every event stream: no cache, no proxy compression or rewriting
(``no-transform``), no buffering by nginx-style proxies (``X-Accel-Buffering``)."""

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
    """Seconds of silence after which a comment line (a heartbeat) keeps proxies from
    closing the stream and lets a client tell a quiet stream from a stalled one."""
    listen: bool = True
    """On PostgreSQL, wake on the job's commits notified by the database (one ``LISTEN``
    connection per process); then the looks of ``woken_poll_interval`` only guard
    against a missed wake-up. False: poll only (SQLite always does)."""


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
    listening = job_events_listener(database) if follow and options.listen else nullcontext()
    with listening as listener:
        async for frame in _frames(
            database, deployment_id, after_seq, follow, is_disconnected, options, listener
        ):
            yield frame


async def _frames(
    database: Engine,
    deployment_id: int,
    after_seq: int,
    follow: bool,
    is_disconnected: Callable[[], Awaitable[bool]],
    options: EventStreamOptions,
    listener: JobEventsListener | None,
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    quiet_since = time.monotonic()
    job_id: int | None = None  # known after the first read (a deployment keeps its job)
    while True:
        # Read before the events, so a commit while they are read is not missed below.
        seen = JOB_COMMITS.count(job_id) if job_id is not None else 0
        generation = listener.generation if listener is not None else 0
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
        now = time.monotonic()
        if tick.events:
            quiet_since = now
        elif now - quiet_since >= options.keepalive:
            yield b": keepalive\n\n"
            quiet_since = now
        if await is_disconnected():
            return
        # Never past the next heartbeat.
        heartbeat_in = max(quiet_since + options.keepalive - time.monotonic(), 0.0)
        if job_id is None:
            await anyio.sleep(min(options.poll_interval, heartbeat_in))
            continue
        # Its commits ring here when a worker of this process runs it (then ``seen`` > 0),
        # or when the database's notifications of it reach this process's listener, which
        # listened since before the read: no need to poll often.
        notified = generation != 0 and listener is not None and listener.generation == generation
        woken = seen > 0 or notified
        interval = options.woken_poll_interval if woken else options.poll_interval
        await JOB_COMMITS.wait(job_id, seen, min(interval, heartbeat_in))
