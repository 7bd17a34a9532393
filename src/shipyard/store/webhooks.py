"""Webhooks in: components' sealed secrets and the delivery ids already seen."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store.models import WebhookDelivery, WebhookSecret

__all__ = [
    "DELIVERY_ID_MAX",
    "forget_delivery",
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


def forget_delivery(session: Session, source: str, delivery_id: str) -> None:
    """Undo :func:`record_delivery` (its work failed: the sender's retry is welcome)."""
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.source == source, WebhookDelivery.delivery_id == delivery_id
        )
    )
