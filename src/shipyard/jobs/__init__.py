"""Queued work: the database-backed queue, its leases, and the handlers workers run.

The workers themselves are in :mod:`shipyard.jobs.worker` (imported on demand: it loads
the engine's process tools).
"""

from __future__ import annotations

from shipyard.jobs.backoff import DEFAULT_BACKOFF, Backoff
from shipyard.jobs.errors import (
    HandlerNotFoundError,
    JobCancelledError,
    JobError,
    LeaseLostError,
    TransientJobError,
)
from shipyard.jobs.handlers import (
    Handler,
    HandlerRegistry,
    JobContext,
    default_registry,
    register,
)
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
    release,
)
from shipyard.store.enums import JobKind, JobState

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "Handler",
    "HandlerNotFoundError",
    "HandlerRegistry",
    "JobCancelledError",
    "JobContext",
    "JobError",
    "JobKind",
    "JobState",
    "Lease",
    "LeaseLostError",
    "TransientJobError",
    "cancel",
    "claim",
    "complete",
    "default_registry",
    "enqueue",
    "fail",
    "get_job",
    "heartbeat",
    "mark_cancelled",
    "reap_expired",
    "register",
    "release",
]
