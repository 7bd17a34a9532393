"""The closed vocabularies stored in Shipyard's tables (stored as their lowercase values)."""

from __future__ import annotations

import enum

__all__ = ["BuildStatus", "DeploymentStatus", "JobKind", "JobState"]


class JobKind(enum.StrEnum):
    provision = "provision"
    build = "build"
    deploy = "deploy"
    preview = "preview"
    refresh = "refresh"
    destroy = "destroy"


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_JOB_STATES


_FINISHED_JOB_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class DeploymentStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    unchanged = "unchanged"


class BuildStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
