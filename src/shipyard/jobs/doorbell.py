"""Wakes this process's idle workers when a job is queued or a stack is freed, instead
of their next poll.

``enqueue`` rings the bell once the transaction that queued the job commits, so a worker
in the same process (``shipyard serve``) claims it at once rather than up to a poll
interval later. So does the end of a job (done, failed, cancelled, given back): the next
job of its stack may run now, and every idle worker gets its chance at it, not only the
one that just finished. Workers in other processes (``shipyard worker``) still find work
by polling.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["DOORBELL", "Doorbell", "ring_after_commit"]


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
