"""Events: what a job did, in order; ``seq`` grows by one per job for SSE resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, insert, select, update
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store._notify import notify_job_events
from shipyard.store.errors import NotFoundError
from shipyard.store.models import Event, Job

__all__ = ["NewEvent", "append_event", "append_events", "events_after", "list_events"]

_T = TypeVar("_T")


def append_event(
    session: Session,
    job_id: int,
    kind: str,
    message: str,
    *,
    level: str = "info",
    data: dict[str, Any] | None = None,
    deployment_id: int | None = None,
) -> Event:
    """Append an event with the job's next sequence number.

    The number comes from ``jobs.last_event_seq``, incremented in place: the row lock
    orders concurrent writers, so numbers are dense and never reused.
    """
    seq = _take_numbers(session, job_id, 1)
    event = Event(
        job_id=job_id,
        seq=seq,
        kind=kind,
        level=level,
        message=message,
        data=data,
        deployment_id=deployment_id,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append with :func:`append_events`, stamped when it happened."""

    kind: str
    message: str
    level: str = "info"
    data: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utc_now)


def append_events(
    connection: Session | Connection, job_id: int, events: Sequence[NewEvent]
) -> None:
    """Append ``events`` in order, numbered after the job's last one: one statement to
    take their numbers (as :func:`append_event`, under the job row's lock), one to insert
    them all. Core statements: a plain connection serves (no ORM session to build)."""
    if not events:
        return
    first = _take_numbers(connection, job_id, len(events)) - len(events) + 1
    connection.execute(
        insert(Event),
        [
            {
                "job_id": job_id,
                "seq": first + index,
                "kind": event.kind,
                "level": event.level,
                "message": event.message,
                "data": event.data,
                "created_at": event.created_at,
            }
            for index, event in enumerate(events)
        ],
    )


def _take_numbers(connection: Session | Connection, job_id: int, count: int) -> int:
    """Take the job's next ``count`` event numbers; the last of them. On PostgreSQL, the
    job's listeners are notified when the transaction commits (the API's live streams)."""
    last = connection.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_event_seq=Job.last_event_seq + count)
        .returning(Job.last_event_seq)
    ).scalar_one_or_none()
    if last is None:
        raise NotFoundError("job", job_id)
    notify_job_events(connection, job_id)
    return last


def _after(query: Select[_T], job_id: int, after_seq: int, limit: int) -> Select[_T]:
    return (
        query.where(Event.job_id == job_id, Event.seq > after_seq).order_by(Event.seq).limit(limit)
    )


def events_after(
    connection: Connection, job_id: int, *, after_seq: int = 0, limit: int = 1000
) -> Sequence[Row[Any]]:
    """As :func:`list_events`, as plain rows (``seq``, ``kind``, ``level``, ``message``,
    ``data``, ``created_at``) read on a connection: for the live streams, which read
    often and need no ORM objects."""
    columns = (Event.seq, Event.kind, Event.level, Event.message, Event.data, Event.created_at)
    return connection.execute(_after(select(*columns), job_id, after_seq, limit)).all()


def list_events(
    session: Session, job_id: int, *, after_seq: int = 0, limit: int = 1000
) -> Sequence[Event]:
    """Events of a job in order, those after ``after_seq`` only (``Last-Event-ID``)."""
    return session.scalars(_after(select(Event), job_id, after_seq, limit)).all()
