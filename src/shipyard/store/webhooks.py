"""Webhooks in: components' sealed secrets and the delivery ids already seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store.models import CloudBuildNotification, WebhookDelivery, WebhookSecret

__all__ = [
    "DELIVERY_ID_MAX",
    "cloud_build_status",
    "forget_delivery",
    "prune_deliveries",
    "record_cloud_build_notification",
    "record_delivery",
    "sealed_secret_of",
    "set_sealed_secret",
]

DELIVERY_ID_MAX = 255


def set_sealed_secret(
    session: Session, component_id: int, sealed: str, *, created_by_id: int | None = None
) -> WebhookSecret:
    """Give a component its (sealed) secret, replacing the one it had."""
    found = session.scalars(
        select(WebhookSecret).where(WebhookSecret.component_id == component_id)
    ).one_or_none()
    if found is None:
        found = WebhookSecret(component_id=component_id, sealed=sealed)
        session.add(found)
    found.sealed = sealed
    found.created_by_id = created_by_id
    found.created_at = utc_now()
    session.flush()
    return found


def sealed_secret_of(session: Session, component_id: int) -> str | None:
    return session.scalars(
        select(WebhookSecret.sealed).where(WebhookSecret.component_id == component_id)
    ).one_or_none()


def record_delivery(session: Session, source: str, delivery_id: str) -> bool:
    """Remember a delivery; False if it was seen before (a replay). Two racing requests
    with one id: the unique index lets one in."""
    try:
        with session.begin_nested():
            session.execute(
                insert(WebhookDelivery).values(
                    source=source, delivery_id=delivery_id, received_at=utc_now()
                )
            )
    except IntegrityError:
        return False
    return True


def prune_deliveries(session: Session, received_before: datetime) -> int:
    """Forget the delivery ids received before ``received_before`` (an indexed delete);
    returns how many."""
    result = session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.received_at < received_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def forget_delivery(session: Session, source: str, delivery_id: str) -> None:
    """Undo :func:`record_delivery` (its work failed: the sender's retry is welcome)."""
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.source == source, WebhookDelivery.delivery_id == delivery_id
        )
    )


def record_cloud_build_notification(
    session: Session,
    *,
    message_id: str,
    build_id: str,
    status: str,
    trigger_id: str | None = None,
    tag: str | None = None,
    log_url: str | None = None,
    finished_at: datetime | None = None,
) -> bool:
    """Record a Cloud Build notification; False if its message was recorded before (Pub/Sub
    delivers at least once)."""
    try:
        with session.begin_nested():
            session.execute(
                insert(CloudBuildNotification).values(
                    message_id=message_id,
                    build_id=build_id,
                    status=status,
                    trigger_id=trigger_id,
                    tag=tag,
                    log_url=log_url,
                    finished_at=finished_at,
                    received_at=utc_now(),
                )
            )
    except IntegrityError:
        return False
    return True


def cloud_build_status(session: Session, build_id: str) -> CloudBuildNotification | None:
    """The build's latest notification (a finished status wins over a later-delivered
    earlier one: Pub/Sub does not keep order)."""
    rows = session.scalars(
        select(CloudBuildNotification)
        .where(CloudBuildNotification.build_id == build_id)
        .order_by(CloudBuildNotification.id)
    ).all()
    finished = [row for row in rows if row.finished_at is not None]
    chosen = finished or list(rows)
    return chosen[-1] if chosen else None
