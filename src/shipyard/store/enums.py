"""The closed vocabularies stored in Shipyard's tables (stored as their lowercase values)."""

from __future__ import annotations

import enum

__all__ = ["BuildStatus", "DeliveryStatus", "DeploymentStatus", "JobKind", "JobState", "Role"]


class JobKind(enum.StrEnum):
    provision = "provision"
    build = "build"
    deploy = "deploy"
    preview = "preview"
    refresh = "refresh"
    destroy = "destroy"
    deliver = "deliver"
    """Webhooks out: fan an event out to its subscriptions, or send one delivery."""


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


class DeliveryStatus(enum.StrEnum):
    """A webhook delivery: ``pending`` until its receiver answers 2xx (``succeeded``), its
    retries run out (``failed``) or its subscription is deleted (``cancelled``)."""

    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class BuildStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Role(enum.StrEnum):
    """What a token or a person may do; each role may do all that the ones before it may.

    ``viewer`` reads; ``deployer`` also deploys, previews, rolls back, promotes,
    provisions, refreshes and cancels for the components its teams own; ``admin`` does
    everything.
    """

    viewer = "viewer"
    deployer = "deployer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_ROLE_RANK = {Role.viewer: 0, Role.deployer: 1, Role.admin: 2}
