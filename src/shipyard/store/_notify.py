"""A PostgreSQL ``NOTIFY`` that a job's events changed, sent in the writing transaction.

``pg_notify`` is transactional: the notification is delivered when (and only if) the
transaction commits, after its rows are visible. The API's listener
(``shipyard.jobs._listen``) wakes the live streams of that job with it. SQLite has no such
thing: nothing is sent there, and its streams find new events by polling.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

__all__ = ["JOB_EVENTS_CHANNEL", "notify_job_events"]

JOB_EVENTS_CHANNEL = "shipyard_job_events"
"""The channel; each notification's payload is a job id in decimal."""


def notify_job_events(connection: Session | Connection, job_id: int) -> None:
    """Notify ``JOB_EVENTS_CHANNEL`` listeners of ``job_id`` when this transaction commits
    (PostgreSQL only; notifications of one transaction with the same payload are sent once).
    """
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    if bind.dialect.name != "postgresql":
        return
    connection.execute(select(func.pg_notify(JOB_EVENTS_CHANNEL, str(job_id))))
