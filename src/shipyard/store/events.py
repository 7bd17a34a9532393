"""Events: what a job did, in order; ``seq`` grows by one per job for SSE resume."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipyard.store.errors import NotFoundError
from shipyard.store.models import Event, Job

__all__ = ["append_event", "list_events"]


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
    seq = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_event_seq=Job.last_event_seq + 1)
        .returning(Job.last_event_seq)
    ).scalar_one_or_none()
    if seq is None:
        raise NotFoundError("job", job_id)
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


def list_events(
    session: Session, job_id: int, *, after_seq: int = 0, limit: int = 1000
) -> Sequence[Event]:
    """Events of a job in order, those after ``after_seq`` only (``Last-Event-ID``)."""
    query = (
        select(Event)
        .where(Event.job_id == job_id, Event.seq > after_seq)
        .order_by(Event.seq)
        .limit(limit)
    )
    return session.scalars(query).all()
