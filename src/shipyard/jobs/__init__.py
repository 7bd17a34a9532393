"""Queued work: the database-backed queue, its leases, and (later) the workers that run it."""

from __future__ import annotations

from shipyard.jobs.backoff import DEFAULT_BACKOFF, Backoff
from shipyard.jobs.errors import JobError, LeaseLostError
from shipyard.jobs.queue import (
    Lease,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    mark_cancelled,
    reap_expired,
)
from shipyard.store.enums import JobKind, JobState

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "JobError",
    "JobKind",
    "JobState",
    "Lease",
    "LeaseLostError",
    "cancel",
    "claim",
    "complete",
    "enqueue",
    "fail",
    "get_job",
    "heartbeat",
    "mark_cancelled",
    "reap_expired",
]
