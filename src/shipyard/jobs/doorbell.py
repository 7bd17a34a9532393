"""Wakes this process's idle workers when a job is queued or a stack is freed, instead
of their next poll.

``enqueue`` rings the bell once the transaction that queued the job commits, so a worker
in the same process (``shipyard serve``) claims it at once rather than up to a poll
interval later. So does the end of a job (done, failed, cancelled, given back): the next
job of its stack may run now, and every idle worker gets its chance at it, not only the
one that just finished. Workers in other processes (``shipyard worker``) still find work
by polling.

:data:`JOB_COMMITS` is the other way round: a job's process tells its worker each time it
commits, and the worker wakes the API's event streams of that job (same process). On
PostgreSQL the API's listener of job events (``shipyard.jobs._listen``) rings it too, for
the commits of jobs that run in any process, on any host.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["DOORBELL", "JOB_COMMITS", "CommitBell", "Doorbell", "ring_after_commit"]


class Doorbell:
    """A counter of rings and a condition to wait for the next one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        with self._changed:
            return self._rings

    def ring(self) -> None:
        with self._changed:
            self._rings += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until rung after ``seen`` (a value of :attr:`rings` read before looking
        for work, so a ring in between is not missed) or ``timeout``; True if rung."""
        with self._changed:
            return self._changed.wait_for(lambda: self._rings != seen, timeout)


DOORBELL = Doorbell()
"""The bell of this process's workers."""


def ring_after_commit(session: Session, bell: Doorbell = DOORBELL) -> None:
    """Ring ``bell`` when ``session``'s current transaction commits (not on a rollback)."""
    event.listen(session, "after_commit", lambda _session: bell.ring(), once=True)


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class CommitBell:
    """Per-job counters of the commits a job's process reported, and a way for coroutines
    (the API's event streams) to wait for their job's next one.

    A wait is only ever shortened by it: a stream still reads the database on its poll
    interval, so a missed ring (a job of another process, a counter dropped from the
    bounded table) costs latency, never an event.
    """

    def __init__(self, keep: int = 4096) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._counts: OrderedDict[int, int] = OrderedDict()
        self._waiters: dict[int, set[_Waiter]] = {}

    def count(self, job_id: int) -> int:
        """Read before looking at the job's events; pass it to :meth:`wait`."""
        with self._lock:
            return self._counts.get(job_id, 0)

    def ring(self, job_id: int) -> None:
        """Job ``job_id`` committed something (called from any thread)."""
        with self._lock:
            self._counts[job_id] = self._counts.pop(job_id, 0) + 1
            if len(self._counts) > self._keep:
                self._counts.popitem(last=False)
            waiters = self._waiters.pop(job_id, set())
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # its event loop is closed
                loop.call_soon_threadsafe(_resolve, future)

    def ring_waiting(self) -> None:
        """Ring every job a coroutine waits for (the listener of job events connected or
        lost its connection: each stream should read now)."""
        with self._lock:
            waiting = list(self._waiters)
        for job_id in waiting:
            self.ring(job_id)

    async def wait(self, job_id: int, seen: int, timeout: float) -> bool:
        """Wait (asyncio) until job ``job_id`` commits after ``seen`` or ``timeout``;
        True if it did."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            if self._counts.get(job_id, 0) != seen:
                return True
            self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[job_id]
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


JOB_COMMITS = CommitBell()
"""Rung by this process's workers each time a job's process reports a commit (its events,
its deployment's records), and on PostgreSQL by the listener of job events for a commit
of any process; the API's event streams of that job wait on it."""
