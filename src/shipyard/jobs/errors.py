"""Errors of the job queue, its workers and the handlers they run."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = [
    "EventsNotStoredError",
    "HandlerNotFoundError",
    "JobCancelledError",
    "JobError",
    "LeaseLostError",
    "TransientJobError",
]


class JobError(ShipyardError):
    """Something about a queued job."""


class LeaseLostError(JobError):
    """The worker no longer holds the job: it must stop working on it at once."""

    def __init__(self, job_id: int, worker_id: str) -> None:
        super().__init__(
            f"worker {worker_id} lost its lease on job {job_id} (expired, reaped or "
            "taken over): stop the job; the queue will run it again or has finished it"
        )
        self.job_id = job_id
        self.worker_id = worker_id


class TransientJobError(JobError):
    """Raised by a handler: this attempt failed for a passing reason, retry after a backoff."""

    transient = True


class JobCancelledError(JobError):
    """Raised by a handler that stopped because its ``CancelToken`` was tripped."""


class HandlerNotFoundError(JobError):
    """No handler for a job kind, or its ``module:function`` target cannot be loaded."""


class EventsNotStoredError(JobError):
    """The job's events could not be stored (the database failed): the job fails."""
