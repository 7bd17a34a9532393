"""Webhooks out, sent by the workers: the ``deliver`` job handler.

A ``deliver`` job either fans an outbox event out (payload ``event_id``: one pending
delivery per subscription that wants it, and a job for each) or sends one delivery
(payload ``delivery_id``): a POST of the event, signed the Standard Webhooks way
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), to the address its host
resolved to and that was checked (:func:`~shipyard.services.subscriptions.resolve_receiver`),
no redirect followed and no answer body read. A 2xx answer ends it; anything else is
recorded as an attempt and the next one is queued for ``SHIPYARD_DELIVERY_RETRY_DELAYS``
later, in the same transaction, until the schedule runs out. Nothing here runs in a
deployment's transaction or job: a delivery's failure is the delivery's alone.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from shipyard import __version__
from shipyard.clock import utc_now
from shipyard.jobs import JobContext, JobKind, enqueue
from shipyard.services.subscriptions import ReceiverRefusedError, resolve_receiver
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction
from shipyard.store.enums import DeliveryStatus
from shipyard.store.subscriptions import Attempt, delivery_lane, dispatch_event, record_attempt

__all__ = [
    "Message",
    "deliver",
    "next_attempt_at",
    "retry_schedule",
    "send",
    "signed_headers",
]

_log = structlog.get_logger(__name__)
_JOB_ATTEMPTS = 3
"""Starts of one delivery job (a worker that died mid-send); its tries are separate."""
_ERROR_LENGTH = 500


def retry_schedule(settings: Settings) -> tuple[timedelta, ...]:
    """The waits before each retry of a delivery not answered 2xx."""
    return tuple(timedelta(seconds=delay) for delay in settings.delivery_retry_delays)


def next_attempt_at(schedule: Sequence[timedelta], attempts: int, now: datetime) -> datetime | None:
    """When the try after ``attempts`` tries is due; None once the schedule is spent."""
    if attempts > len(schedule):
        return None
    return now + schedule[attempts - 1]


def deliver(ctx: JobContext) -> dict[str, Any]:
    """The ``deliver`` job: fan an event out, or send one delivery."""
    database = ctx.database or open_database(ctx.settings)
    try:
        if "event_id" in ctx.payload:
            return _fan_out(database, int(ctx.payload["event_id"]))
        return _send_delivery(ctx, database, int(ctx.payload["delivery_id"]))
    finally:
        if database is not ctx.database:
            database.dispose()


def _enqueue_try(session: Any, delivery_id: int, not_before: datetime | None) -> models.Job:
    job = enqueue(
        session,
        JobKind.deliver,
        delivery_lane(delivery_id),
        {"delivery_id": delivery_id},
        max_attempts=_JOB_ATTEMPTS,
    )
    job.not_before = not_before
    return job


def _fan_out(database: Engine, event_id: int) -> dict[str, Any]:
    with transaction(database) as session:
        deliveries = dispatch_event(session, event_id)
        for delivery in deliveries:
            _enqueue_try(session, delivery.id, None)
        ids = [delivery.id for delivery in deliveries]
    return {"event": event_id, "deliveries": ids}


@dataclass(frozen=True, slots=True)
class Message:
    """What one delivery sends, the same on every try but for its timestamp."""

    url: str
    webhook_id: str
    secret: str
    body: str


def _message(
    delivery: models.Delivery, subscription: models.Subscription, event: models.OutboxEvent
) -> Message:
    body = {
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": {"event_id": event.id, **event.data},
    }
    return Message(
        url=subscription.url,
        webhook_id=delivery.message_id,
        secret=subscription.secret,
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),
    )


def signed_headers(message: Message, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of ``message`` sent at ``at``."""
    return {
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(message.secret).sign(message.webhook_id, at, message.body),
        "content-type": "application/json",
        "user-agent": f"Shipyard-Webhooks/{__version__}",
    }


def send(message: Message, settings: Settings) -> Attempt:
    """One try: the receiver's status code, or why there was none. Never raises for
    what the receiver or the network does."""
    started = utc_now()
    clock = time.monotonic()

    def took() -> int:
        return round((time.monotonic() - clock) * 1000)

    try:
        receiver = resolve_receiver(message.url, settings.delivery_allowed_networks)
    except ReceiverRefusedError as exc:
        return Attempt(started, took(), error=f"refused: {exc}"[:_ERROR_LENGTH])
    url = httpx.URL(message.url)
    extensions: dict[str, Any] = {}
    if receiver.scheme == "https":
        extensions["sni_hostname"] = receiver.host
    pinned = url.copy_with(host=str(receiver.address))
    headers = {**signed_headers(message, started), "host": url.netloc.decode("ascii")}
    verify: ssl.SSLContext | bool = True
    if settings.delivery_ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(settings.delivery_ca_bundle))
    try:
        with (
            httpx.Client(
                timeout=settings.delivery_timeout,
                follow_redirects=False,
                trust_env=False,
                verify=verify,
            ) as client,
            client.stream(
                "POST", pinned, content=message.body, headers=headers, extensions=extensions
            ) as response,
        ):
            return Attempt(started, took(), status_code=response.status_code)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Attempt(started, took(), error=error[:_ERROR_LENGTH])


def _send_delivery(ctx: JobContext, database: Engine, delivery_id: int) -> dict[str, Any]:
    with transaction(database, read_only=True) as session:
        delivery = session.get_one(models.Delivery, delivery_id)
        if delivery.status is not DeliveryStatus.pending:
            return {"delivery": delivery_id, "status": delivery.status.value, "sent": False}
        subscription = session.get_one(models.Subscription, delivery.subscription_id)
        event = session.get_one(models.OutboxEvent, delivery.event_id)
        message = _message(delivery, subscription, event)
    attempt = send(message, ctx.settings)
    with transaction(database) as session:
        delivery = session.get_one(models.Delivery, delivery_id, with_for_update=True)
        if delivery.status is not DeliveryStatus.pending:  # its subscription was deleted
            return {"delivery": delivery_id, "status": delivery.status.value, "sent": True}
        due = (
            None
            if attempt.succeeded
            else next_attempt_at(retry_schedule(ctx.settings), delivery.attempts + 1, utc_now())
        )
        record_attempt(session, delivery, attempt, job_id=ctx.job_id, next_attempt_at=due)
        if due is not None:
            _enqueue_try(session, delivery_id, due)
        result = {
            "delivery": delivery_id,
            "status": delivery.status.value,
            "attempt": delivery.attempts,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "next_attempt_at": due.isoformat() if due else None,
        }
    _log.info("webhook.delivery", **result)
    return result
