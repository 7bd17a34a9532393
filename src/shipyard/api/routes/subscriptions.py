"""``/api/v1/subscriptions``: webhooks out (admin only). A subscription's URL hears of
the events it names, signed with its secret (Standard Webhooks), which is in the answer
that creates it and nowhere else; its deliveries, attempts and answers are listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shipyard.api._params import Id, Limit, Offset
from shipyard.api.access import access
from shipyard.api.auth import CurrentPrincipal
from shipyard.api.dependencies import DatabaseDep, SettingsDep
from shipyard.api.schemas import ENVIRONMENT_PATTERN
from shipyard.services.subscriptions import MAX_URL_LENGTH, remove_subscription, subscribe
from shipyard.store import models, transaction
from shipyard.store.enums import DeliveryStatus, Role
from shipyard.store.subscriptions import (
    get_subscription,
    list_attempts,
    list_deliveries,
    list_subscriptions,
)

__all__ = ["router"]

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])

EventType = Literal[
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.cancelled",
    "build.failed",
]
_REF_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
ComponentRef = Annotated[
    str, StringConstraints(pattern=rf"^(?:{_REF_PART}/)?{_REF_PART}$", max_length=127)
]
EnvironmentName = Annotated[str, StringConstraints(pattern=ENVIRONMENT_PATTERN, max_length=63)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionCreate(_Schema):
    """A URL to tell of events, the events, and optionally one component or environment."""

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="https (or http) URL the events are POSTed to; no credentials in it, "
        "and a public address unless the server allows its network",
    )
    events: list[EventType] = Field(min_length=1, max_length=5)
    component: ComponentRef | None = Field(
        default=None, description="only this component's events (namespace/name, or name)"
    )
    environment: EnvironmentName | None = Field(
        default=None, description="only events in this environment"
    )


class SubscriptionRead(_Schema):
    id: int
    url: str
    events: list[str]
    component: str | None
    environment: str | None
    created_at: datetime
    deleted_at: datetime | None


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(
        description="the Standard Webhooks signing secret (whsec_...): shown in this answer "
        "only; the receiver verifies webhook-signature with it"
    )


class SubscriptionList(_Schema):
    """One page of live subscriptions, oldest first; ``next_offset`` is null on the last."""

    items: list[SubscriptionRead]
    offset: int
    limit: int
    next_offset: int | None


class AttemptRead(_Schema):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryRead(_Schema):
    """One event sent to the subscription: ``pending`` while it is retried."""

    id: int
    event_id: int
    event: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    tries: list[AttemptRead]


class DeliveryList(_Schema):
    """One page of a subscription's deliveries, newest first."""

    items: list[DeliveryRead]
    offset: int
    limit: int
    next_offset: int | None


def _read(subscription: models.Subscription) -> SubscriptionRead:
    return SubscriptionRead(
        id=subscription.id,
        url=subscription.url,
        events=list(subscription.events),
        component=subscription.component,
        environment=subscription.environment,
        created_at=subscription.created_at,
        deleted_at=subscription.deleted_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, **access("subscription.create", Role.admin))
def create_subscription(
    body: SubscriptionCreate,
    database: DatabaseDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> SubscriptionCreated:
    """Subscribe a URL to events; its signing ``secret`` is in this answer only."""
    with transaction(database) as session:
        subscription = subscribe(
            session,
            url=body.url,
            events=body.events,
            component=body.component,
            environment=body.environment,
            allowed=settings.delivery_allowed_networks,
            created_by_id=principal.user_id,
        )
        read = _read(subscription)
        return SubscriptionCreated(**read.model_dump(), secret=subscription.secret)


@router.get("", **access("subscription.list", Role.admin))
def get_subscriptions(
    database: DatabaseDep, limit: Limit = 50, offset: Offset = 0
) -> SubscriptionList:
    """The live subscriptions, oldest first; never a secret."""
    with transaction(database, read_only=True) as session:
        rows = list_subscriptions(session, offset=offset, limit=limit + 1)
        items = [_read(subscription) for subscription in rows[:limit]]
    more = len(rows) > limit
    return SubscriptionList(
        items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
    )


@router.get("/{subscription_id}", **access("subscription.read", Role.admin))
def get_one_subscription(subscription_id: Id, database: DatabaseDep) -> SubscriptionRead:
    """One subscription, a deleted one too; never its secret."""
    with transaction(database, read_only=True) as session:
        return _read(get_subscription(session, subscription_id))


@router.delete("/{subscription_id}", **access("subscription.delete", Role.admin))
def delete_subscription(subscription_id: Id, database: DatabaseDep) -> SubscriptionRead:
    """Delete a subscription: no new deliveries, pending ones cancelled; their record
    stays. Deleting it again changes nothing."""
    with transaction(database) as session:
        return _read(remove_subscription(session, subscription_id))


@router.get("/{subscription_id}/deliveries", **access("subscription.deliveries", Role.admin))
def get_deliveries(
    subscription_id: Id, database: DatabaseDep, limit: Limit = 50, offset: Offset = 0
) -> DeliveryList:
    """The subscription's deliveries, newest first: status, attempts, the last answer's
    status code (or error), when the next try is due, and every try."""
    with transaction(database, read_only=True) as session:
        get_subscription(session, subscription_id)  # 404 for an unknown one
        rows = list_deliveries(session, subscription_id, offset=offset, limit=limit + 1)
        items = [
            DeliveryRead(
                id=delivery.id,
                event_id=event.id,
                event=event.type,
                webhook_id=delivery.message_id,
                status=delivery.status,
                attempts=delivery.attempts,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
                next_attempt_at=delivery.next_attempt_at,
                created_at=delivery.created_at,
                finished_at=delivery.finished_at,
                tries=[
                    AttemptRead(
                        number=attempt.number,
                        started_at=attempt.started_at,
                        duration_ms=attempt.duration_ms,
                        status_code=attempt.status_code,
                        error=attempt.error,
                    )
                    for attempt in list_attempts(session, delivery.id)
                ],
            )
            for delivery, event in rows[:limit]
        ]
    more = len(rows) > limit
    return DeliveryList(
        items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
    )
