"""Errors of the job queue."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = ["JobError", "LeaseLostError"]


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
