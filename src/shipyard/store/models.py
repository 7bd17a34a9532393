"""Shipyard's tables as typed SQLAlchemy models. API schemas live elsewhere, never here.

Nothing is deleted: foreign keys have no cascades, and finished work keeps its record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shipyard.clock import utc_now
from shipyard.store._types import JSONDocument, UTCDateTime, enum_type
from shipyard.store.enums import (
    BuildStatus,
    DeliveryStatus,
    DeploymentStatus,
    JobKind,
    JobState,
    Role,
)

__all__ = [
    "ApiToken",
    "AuditRecord",
    "Base",
    "Build",
    "CloudBuildNotification",
    "Component",
    "Delivery",
    "DeliveryAttempt",
    "Deployment",
    "Environment",
    "Event",
    "Job",
    "OutboxEvent",
    "Release",
    "SeenTag",
    "Stack",
    "Subscription",
    "Team",
    "TeamMembership",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookSecret",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Name = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012  (SQLAlchemy's documented class attribute)
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
        str: Name,
    }


def _created_at() -> Mapped[datetime]:
    return mapped_column(default=utc_now)


# --- people and access -------------------------------------------------------------------


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime] = _created_at()


class User(Base):
    """Someone who acts: the admin, a token's owner, or a person signed in through OIDC."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str | None] = mapped_column(String(512), unique=True)
    """``<issuer>#<sub>`` for a person known through OIDC; ``None`` for token users."""
    created_at: Mapped[datetime] = _created_at()


class TeamMembership(Base):
    __tablename__ = "team_memberships"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), default="member")


class ApiToken(Base):
    """A bearer token: only the sha256 of the random secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_type(Role, "token_role"), default=Role.viewer)
    teams: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    """Ownership refs (``group:default/payments``) whose components a deployer may change."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser's signed-in session: the cookie holds a random id, only its sha256 is kept.

    Signing out (or revoking the token it was opened with) ends it on the server."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    """The token the person signed in with; ``None`` for an OIDC sign-in."""
    role: Mapped[Role] = mapped_column(enum_type(Role, "session_role"))
    teams: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


# --- what is deployed where --------------------------------------------------------------


class Component(Base):
    """A Backstage ``kind: Component`` entity, id ``namespace/name``."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("namespace", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(default="default")
    name: Mapped[str]
    owner: Mapped[str | None]
    template: Mapped[str | None]
    source: Mapped[str | None] = mapped_column(Text)
    descriptor: Mapped[dict[str, Any]]
    """The catalog entity as registered (YAML turned into JSON)."""
    orphaned_at: Mapped[datetime | None]
    """When the Backstage catalog it was synced from stopped listing it (kept, never
    destroyed by a sync); ``None`` while it is listed, or for a registration."""
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class Environment(Base):
    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    """Order of promotion: lower comes first."""
    target: Mapped[str] = mapped_column(String(32))
    auto_deploy: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Build(Base):
    """An image built from a component's repository at a ref (a tag)."""

    __tablename__ = "builds"
    __table_args__ = (Index(None, "component_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id"))
    ref: Mapped[str]
    commit: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[BuildStatus] = mapped_column(
        enum_type(BuildStatus, "build_status"), default=BuildStatus.queued
    )
    image: Mapped[str | None] = mapped_column(Text)
    image_digest: Mapped[str | None] = mapped_column(String(100))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    finished_at: Mapped[datetime | None]


class Release(Base):
    """An image digest plus the desired state resolved for one environment.

    Identical desired states of one component in one environment share a release.
    """

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("component_id", "environment_id", "desired_state_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    tag: Mapped[str | None]
    image: Mapped[str] = mapped_column(Text)
    image_digest: Mapped[str] = mapped_column(String(100))
    desired_state: Mapped[dict[str, Any]]
    desired_state_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()


class Stack(Base):
    """One Pulumi stack per (component, environment); ``key`` names its job lane."""

    __tablename__ = "stacks"
    __table_args__ = (UniqueConstraint("component_id", "environment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(unique=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    project: Mapped[str]
    stack_name: Mapped[str]
    current_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    """The release the last successful deployment left running."""
    url: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provisioned_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Deployment(Base):
    """Applying a release (or a tag, before its release exists) to a stack."""

    __tablename__ = "deployments"
    __table_args__ = (Index(None, "stack_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stack_id: Mapped[int] = mapped_column(ForeignKey("stacks.id"))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    tag: Mapped[str | None]
    status: Mapped[DeploymentStatus] = mapped_column(
        enum_type(DeploymentStatus, "deployment_status"), default=DeploymentStatus.queued
    )
    reason: Mapped[str] = mapped_column(String(32), default="deploy")
    """deploy, auto, rollback, promote or destroy."""
    force: Mapped[bool] = mapped_column(default=False)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# --- work and its record -----------------------------------------------------------------


class Job(Base):
    """A unit of queued work. At most one job per ``stack_key`` is running (a unique index)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "state", "stack_key", "id"),
        Index(None, "state", "lease_expires_at"),
        Index(
            "uq_jobs_running_stack_key",
            "stack_key",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(enum_type(JobKind, "job_kind"))
    stack_key: Mapped[str]
    state: Mapped[JobState] = mapped_column(
        enum_type(JobState, "job_state"), default=JobState.queued
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    """How many times a worker started it."""
    max_attempts: Mapped[int] = mapped_column(default=3)
    not_before: Mapped[datetime | None]
    """A retry waits until then."""
    worker_id: Mapped[str | None]
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_recovery: Mapped[bool] = mapped_column(Boolean, default=False)
    """A previous attempt died mid-run: recover the engine (stale lock, pending ops) first."""
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped by every claim: each write of an attempt checks it still holds this lease
    (fencing: a worker that lost its lease writes nothing)."""


class Event(Base):
    """One record of what a job did; ``seq`` grows by one per job (SSE ``Last-Event-ID``)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    seq: Mapped[int]
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created_at()


class AuditRecord(Base):
    """Who did what to which resource; written in the same transaction as the change."""

    __tablename__ = "audit_records"
    __table_args__ = (Index(None, "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None]
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    actor: Mapped[str | None] = mapped_column(index=True)
    """Who, as shown: a user's name, an OIDC subject, ``anonymous``, or a webhook."""
    component: Mapped[str | None] = mapped_column(index=True)
    """``namespace/name`` when the action concerns one component."""
    address: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(String(32))
    """``ok``, ``unauthorized`` (401), ``forbidden`` (403), ``invalid`` (4xx), ``error``."""
    status_code: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()


# --- webhooks in ---------------------------------------------------------------------------


class WebhookSecret(Base):
    """A component's own webhook secret, sealed (encrypted) with the data dir's
    ``webhook-key``: HMAC needs the key itself back, so a hash would not do."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id"), unique=True)
    sealed: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created_at()


class WebhookDelivery(Base):
    """A delivery id a verified webhook carried: one seen again is a replay."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("source", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    """``github``, ``gitlab``, ``generic``, ``backstage``."""
    delivery_id: Mapped[str]
    received_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class SeenTag(Base):
    """A git tag a trigger (the poller or a webhook) already requested for a component:
    shared by every host, so a tag is built and deployed once whoever learns of it."""

    __tablename__ = "seen_tags"

    component: Mapped[str] = mapped_column(Name, primary_key=True)
    """The component's ref, ``namespace/name``."""
    tag: Mapped[str] = mapped_column(Name, primary_key=True)
    commit: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utc_now)


class CloudBuildNotification(Base):
    """A Cloud Build status a Pub/Sub push told (``cloud-builds`` topic): the gcp
    target's build follower can learn a build's end from here at once."""

    __tablename__ = "cloud_build_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(unique=True)
    """Pub/Sub's ``messageId``: a redelivery is recorded once."""
    build_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(32))
    """Cloud Build's: ``QUEUED``, ``WORKING``, ``SUCCESS``, ``FAILURE``, ``TIMEOUT``, ..."""
    trigger_id: Mapped[str | None] = mapped_column(String(128))
    tag: Mapped[str | None]
    log_url: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = _created_at()


# --- webhooks out --------------------------------------------------------------------------


class Subscription(Base):
    """A URL told of deployment and build events, signed with its own secret (Standard
    Webhooks); deleting one sets ``deleted_at`` (its deliveries keep their record)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONDocument)
    component: Mapped[str | None]
    """Only events of this component (``namespace/name``); ``None``: every component."""
    environment: Mapped[str | None] = mapped_column(String(63))
    """Only events in this environment; ``None``: every environment."""
    secret: Mapped[str] = mapped_column(Text)
    """``whsec_<base64>``: the receiver verifies signatures with it, so it is kept."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created_at()
    deleted_at: Mapped[datetime | None]


class OutboxEvent(Base):
    """An event for the subscriptions, written in the transaction of the change it tells
    of (a deployment's status, a failed build); fanned out to deliveries by a job."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    component: Mapped[str | None]
    environment: Mapped[str | None] = mapped_column(String(63))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created_at()
    dispatched_at: Mapped[datetime | None]
    """When its deliveries were created (``None``: not yet)."""


class Delivery(Base):
    """One event sent to one subscription, retried until it is answered 2xx or its
    schedule runs out; ``message_id`` is its ``webhook-id``, the same on every attempt."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index(None, "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, "delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()
    finished_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """One try of a delivery: the receiver's status code, or why there was none."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    number: Mapped[int]
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]
    started_at: Mapped[datetime]
