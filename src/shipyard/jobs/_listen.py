"""PostgreSQL ``LISTEN`` for job events: wakes this process's live streams of a job when
any process, on any host, commits an event of it.

The transaction that appends a job's events notifies ``shipyard_job_events`` with the
job's id (``shipyard.store._notify``); PostgreSQL delivers it once that transaction
commits. One connection per process and database listens, in a thread, while at least one
stream uses it (:func:`job_events_listener`), and rings :data:`JOB_COMMITS` for each
notified job: the streams waiting on that job read the table at once.

A notification is only a wake-up, never the data: a stream still reads its events from
the table, and still looks on its own interval, so a lost notification or connection
costs latency, never an event. A lost connection is opened again (after 0.25 s, doubling
to 5 s); the streams poll at their short interval meanwhile, and every waiting stream is
woken once the listener listens again (what was committed in between is found by that
read).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import structlog
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine

from shipyard.jobs.doorbell import JOB_COMMITS, CommitBell
from shipyard.store._notify import JOB_EVENTS_CHANNEL

__all__ = ["APPLICATION_NAME", "JobEventsListener", "job_events_listener"]

_log = structlog.get_logger(__name__)

APPLICATION_NAME = "shipyard-listen"
"""The listening connection's ``application_name`` (as ``pg_stat_activity`` shows it)."""

_IDLE_CHECK_S = 0.25
"""How long one wait for notifications lasts before the thread checks it should stop."""
_RETRY_S = (0.25, 5.0)
"""The first and the longest pause before connecting again."""
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
"""TCP keepalives: a server gone silent (a cut network) is noticed in about 25 s, as a
lost connection."""


class JobEventsListener:
    """A thread holding one ``LISTEN`` connection; rings ``bell`` for each notified job."""

    def __init__(self, conninfo: str, bell: CommitBell = JOB_COMMITS) -> None:
        self._conninfo = conninfo
        self._bell = bell
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = False
        self._thread = threading.Thread(target=self._run, name="shipyard-listen", daemon=True)

    @property
    def generation(self) -> int:
        """0 while not listening; else a number that changes at every new connection.

        Read it before reading the table: if it is unchanged and not 0 afterwards, every
        commit after that read rings the bell."""
        with self._lock:
            return self._generation if self._listening else 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within a fraction of a second; not waited for)."""
        self._stop.set()

    def _run(self) -> None:
        pause = _RETRY_S[0]
        while not self._stop.is_set():
            try:
                self._listen()
                pause = _RETRY_S[0]
            except psycopg.Error as error:
                _log.warning(
                    "job events listener lost its connection; polling until it is back",
                    error=str(error).strip(),
                    retry_in_s=pause,
                )
                self._stop.wait(pause)
                pause = min(pause * 2, _RETRY_S[1])
            finally:
                self._set_listening(False)

    def _listen(self) -> None:
        conninfo = make_conninfo(
            self._conninfo, application_name=APPLICATION_NAME, connect_timeout=10, **_KEEPALIVES
        )
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f"LISTEN {JOB_EVENTS_CHANNEL}")
            self._set_listening(True)
            while not self._stop.is_set():
                for notification in connection.notifies(timeout=_IDLE_CHECK_S):
                    job_id = _job_id(notification.payload)
                    if job_id is not None:
                        self._bell.ring(job_id)

    def _set_listening(self, listening: bool) -> None:
        with self._lock:
            if listening == self._listening:
                return
            self._listening = listening
            if listening:
                self._generation += 1
        # Back: what was committed while nobody listened is found by a read now.
        # Gone: the streams go back to their short poll at once.
        self._bell.ring_waiting()


def _job_id(payload: str) -> int | None:
    """A notification's job id; None for anything else (anyone who can connect may
    ``NOTIFY`` this channel: a bad payload is ignored)."""
    if not payload.isascii() or not payload.isdigit() or len(payload) > 19:
        return None
    return int(payload)


class _Shared:
    """The listeners of this process, one per database, each kept while it has users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, tuple[JobEventsListener, int]] = {}

    def acquire(self, conninfo: str) -> JobEventsListener:
        with self._lock:
            listener, users = self._listeners.get(conninfo, (None, 0))
            if listener is None:
                listener = JobEventsListener(conninfo)
                listener.start()
            self._listeners[conninfo] = (listener, users + 1)
            return listener

    def release(self, conninfo: str) -> None:
        with self._lock:
            listener, users = self._listeners[conninfo]
            if users > 1:
                self._listeners[conninfo] = (listener, users - 1)
                return
            del self._listeners[conninfo]
        listener.stop()


_SHARED = _Shared()


@contextmanager
def job_events_listener(database: Engine) -> Iterator[JobEventsListener | None]:
    """This process's listener of ``database``'s job events, started by its first user and
    stopped after its last; None on SQLite (no ``LISTEN`` there: streams poll)."""
    if database.dialect.name != "postgresql":
        yield None
        return
    conninfo = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = _SHARED.acquire(conninfo)
    try:
        yield listener
    finally:
        _SHARED.release(conninfo)
