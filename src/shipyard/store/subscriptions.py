"""Webhooks out: subscriptions, the outbox of events they are told of, their deliveries.

An event is recorded in the transaction of the change it tells of (``record_*``: plain
statements, so a job's connection serves), and only when a live subscription wants it.
With it goes a ``deliver`` job on the :data:`OUTBOX_LANE`, which fans the event out to
one delivery per subscription (:func:`dispatch_event`); each delivery is then sent by a
job of its own lane (``delivery:<id>``), never the lane of a deployment's stack.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store._queries import get_or_raise, page
from shipyard.store.enums import DeliveryStatus, DeploymentStatus, JobKind
from shipyard.store.models import (
    Build,
    Component,
    Delivery,
    DeliveryAttempt,
    Deployment,
    Environment,
    Job,
    OutboxEvent,
    Stack,
    Subscription,
)

__all__ = [
    "DEPLOYMENT_EVENTS",
    "EVENT_TYPES",
    "OUTBOX_LANE",
    "Attempt",
    "create_subscription",
    "delete_subscription",
    "delivery_lane",
    "dispatch_event",
    "get_subscription",
    "list_attempts",
    "list_deliveries",
    "list_subscriptions",
    "live_subscriptions",
    "new_secret",
    "record_attempt",
    "record_build_failed",
    "record_deployment_event",
]

DEPLOYMENT_EVENTS = {
    DeploymentStatus.running: "deployment.started",
    DeploymentStatus.succeeded: "deployment.succeeded",
    DeploymentStatus.unchanged: "deployment.succeeded",
    DeploymentStatus.failed: "deployment.failed",
    DeploymentStatus.cancelled: "deployment.cancelled",
}
"""The event a deployment's new status makes (``unchanged`` is a success: it runs)."""

EVENT_TYPES = (
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.cancelled",
    "build.failed",
)

OUTBOX_LANE = "webhooks:outbox"
"""The job lane of the fan-out jobs: events become deliveries in the order recorded."""

_OUTBOX_JOB_ATTEMPTS = 3


def delivery_lane(delivery_id: int) -> str:
    """The job lane of one delivery: its attempts run one after another, and hold up
    nothing else (a deployment's stack, another delivery). No ``/`` in it: a stack's lane
    is ``namespace/name/environment``, and workers skip lanes by their environment."""
    return f"delivery:{delivery_id}"


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# --- subscriptions -------------------------------------------------------------------------


def create_subscription(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    component: str | None = None,
    environment: str | None = None,
    created_by_id: int | None = None,
) -> Subscription:
    subscription = Subscription(
        url=url,
        events=list(events),
        component=component,
        environment=environment,
        secret=new_secret(),
        created_by_id=created_by_id,
        created_at=utc_now(),
    )
    session.add(subscription)
    session.flush()
    return subscription


def get_subscription(session: Session, subscription_id: int) -> Subscription:
    """A subscription, a deleted one too (its deliveries keep their record)."""
    return get_or_raise(session, Subscription, subscription_id, "subscription")


def list_subscriptions(
    session: Session, *, offset: int = 0, limit: int = 100
) -> Sequence[Subscription]:
    """Live subscriptions, oldest first."""
    query = select(Subscription).where(Subscription.deleted_at.is_(None)).order_by(Subscription.id)
    return page(session, query, offset, limit)


def delete_subscription(
    session: Session, subscription_id: int, *, at: datetime | None = None
) -> Subscription:
    """Stop a subscription: no new deliveries; its pending ones are cancelled (their
    queued attempts then send nothing). Deleting it again changes nothing."""
    subscription = session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        get_subscription(session, subscription_id)  # raises the not-found error
        raise AssertionError("unreachable")
    if subscription.deleted_at is not None:
        return subscription
    now = at or utc_now()
    subscription.deleted_at = now
    session.execute(
        update(Delivery)
        .where(
            Delivery.subscription_id == subscription_id,
            Delivery.status == DeliveryStatus.pending,
        )
        .values(status=DeliveryStatus.cancelled, finished_at=now, next_attempt_at=None)
    )
    session.flush()
    return subscription


def _wants(subscription: Any, event_type: str, component: str | None, env: str | None) -> bool:
    return (
        event_type in subscription.events
        and (subscription.component is None or subscription.component == component)
        and (subscription.environment is None or subscription.environment == env)
    )


def live_subscriptions(connection: Session | Connection) -> Sequence[Any]:
    """What the live subscriptions want (``events``, ``component``, ``environment``)."""
    columns = (Subscription.events, Subscription.component, Subscription.environment)
    return connection.execute(select(*columns).where(Subscription.deleted_at.is_(None))).all()


# --- the outbox ----------------------------------------------------------------------------


def _record(
    connection: Session | Connection,
    event_type: str,
    data: dict[str, Any],
    *,
    deployment_id: int | None = None,
    build_id: int | None = None,
) -> int:
    now = utc_now()
    event_id = connection.execute(
        insert(OutboxEvent)
        .values(
            type=event_type,
            component=data.get("component"),
            environment=data.get("environment"),
            deployment_id=deployment_id,
            build_id=build_id,
            data=data,
            created_at=now,
        )
        .returning(OutboxEvent.id)
    ).scalar_one()
    connection.execute(
        insert(Job).values(
            kind=JobKind.deliver,
            stack_key=OUTBOX_LANE,
            payload={"event_id": event_id},
            max_attempts=_OUTBOX_JOB_ATTEMPTS,
            created_at=now,
        )
    )
    return event_id


def record_deployment_event(
    connection: Session | Connection, deployment_id: int, status: DeploymentStatus
) -> int | None:
    """The event of a deployment's new ``status`` (see :data:`DEPLOYMENT_EVENTS`), in the
    caller's transaction; its id, or None when no live subscription wants it."""
    event_type = DEPLOYMENT_EVENTS.get(status)
    if event_type is None:
        return None
    live = live_subscriptions(connection)
    if not live:
        return None
    # Plain columns: on a Connection (a job's first write) there are no ORM objects.
    row = connection.execute(
        select(
            Component.namespace,
            Component.name,
            Environment.name.label("environment"),
            Deployment.reason,
            Deployment.tag,
            Deployment.release_id,
            Deployment.url,
            Deployment.error,
            Deployment.job_id,
        )
        .join(Stack, Deployment.stack_id == Stack.id)
        .join(Component, Stack.component_id == Component.id)
        .join(Environment, Stack.environment_id == Environment.id)
        .where(Deployment.id == deployment_id)
    ).one_or_none()
    if row is None:
        return None
    component = f"{row.namespace}/{row.name}"
    if not any(_wants(sub, event_type, component, row.environment) for sub in live):
        return None
    data = {
        "deployment": deployment_id,
        "component": component,
        "environment": row.environment,
        "status": status.value,
        "reason": row.reason,
        "tag": row.tag,
        "release": row.release_id,
        "url": row.url,
        "error": row.error,
        "job": row.job_id,
    }
    return _record(connection, event_type, data, deployment_id=deployment_id)


def record_build_failed(session: Session, build: Build) -> int | None:
    """A ``build.failed`` event in the caller's transaction (its environment is that of
    the deployment whose job ran the build); None when no live subscription wants it."""
    live = live_subscriptions(session)
    if not live:
        return None
    component = session.get_one(Component, build.component_id)
    environment: str | None = None
    deployment_id: int | None = None
    if build.job_id is not None:
        found = session.execute(
            select(Deployment.id, Environment.name)
            .join(Stack, Deployment.stack_id == Stack.id)
            .join(Environment, Stack.environment_id == Environment.id)
            .where(Deployment.job_id == build.job_id)
            .order_by(Deployment.id)
            .limit(1)
        ).first()
        if found is not None:
            deployment_id, environment = found
    if not any(_wants(sub, "build.failed", component.ref, environment) for sub in live):
        return None
    data = {
        "build": build.id,
        "component": component.ref,
        "environment": environment,
        "tag": build.ref,
        "commit": build.commit,
        "error": build.error,
        "deployment": deployment_id,
        "job": build.job_id,
    }
    return _record(session, "build.failed", data, deployment_id=deployment_id, build_id=build.id)


def dispatch_event(session: Session, event_id: int) -> list[Delivery]:
    """One pending delivery of the event per live subscription that wants it, now; none
    if it was dispatched already (a fan-out job that runs again adds nothing)."""
    event = session.get(OutboxEvent, event_id, with_for_update=True)
    if event is None:
        get_or_raise(session, OutboxEvent, event_id, "event")
        raise AssertionError("unreachable")
    if event.dispatched_at is not None:
        return []
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.deleted_at.is_(None)).order_by(Subscription.id)
    ).all()
    deliveries = [
        Delivery(
            subscription_id=subscription.id,
            event_id=event.id,
            message_id=f"msg_{secrets.token_hex(16)}",
            status=DeliveryStatus.pending,
            attempts=0,
            created_at=utc_now(),
        )
        for subscription in subscriptions
        if _wants(subscription, event.type, event.component, event.environment)
    ]
    session.add_all(deliveries)
    event.dispatched_at = utc_now()
    session.flush()
    return deliveries


# --- deliveries ----------------------------------------------------------------------------


def list_deliveries(
    session: Session, subscription_id: int, *, offset: int = 0, limit: int = 100
) -> Sequence[tuple[Delivery, OutboxEvent]]:
    """A subscription's deliveries with their events, newest first."""
    query = (
        select(Delivery, OutboxEvent)
        .join(OutboxEvent, Delivery.event_id == OutboxEvent.id)
        .where(Delivery.subscription_id == subscription_id)
        .order_by(Delivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [(delivery, event) for delivery, event in session.execute(query).all()]


def list_attempts(session: Session, delivery_id: int) -> Sequence[DeliveryAttempt]:
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.number)
    )
    return session.scalars(query).all()


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one try of a delivery found: the receiver's status code, or an error."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def record_attempt(
    session: Session,
    delivery: Delivery,
    attempt: Attempt,
    *,
    job_id: int | None,
    next_attempt_at: datetime | None,
) -> DeliveryAttempt:
    """Record a try and its outcome on the delivery: ``succeeded`` on a 2xx; else
    ``pending`` until ``next_attempt_at``, or ``failed`` when there is none."""
    delivery.attempts += 1
    delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error
    if attempt.succeeded:
        delivery.status = DeliveryStatus.succeeded
        delivery.next_attempt_at = None
        delivery.finished_at = utc_now()
    elif next_attempt_at is None:
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
        delivery.finished_at = utc_now()
    else:
        delivery.next_attempt_at = next_attempt_at
    record = DeliveryAttempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        job_id=job_id,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
        started_at=attempt.started_at,
    )
    session.add(record)
    session.flush()
    return record
