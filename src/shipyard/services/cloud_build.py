"""Cloud Build notifications (Pub/Sub push) for the gcp target: a build's end learned at
once instead of at the follower's next poll.

Cloud Build publishes every build's status changes to the ``cloud-builds`` topic; a push
subscription posts them to ``POST /api/v1/hooks/cloudbuild?token=<SHIPYARD_WEBHOOK_SECRET>``.
:func:`record_push` stores each one (``cloud_build_notifications``, once per Pub/Sub
message id). A deployment's build follower (``shipyard.targets.gcp.build_api.CloudBuild``,
opened by :func:`~shipyard.services.targets.open_target` with the store) waits between two
reads of its build with :meth:`BuildWaiter.wait`, which returns as soon as a finished
status of that build is recorded, by any process sharing the database.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from shipyard.services.hooks import PayloadError
from shipyard.store import transaction
from shipyard.store.webhooks import cloud_build_status, record_cloud_build_notification

__all__ = ["FINISHED", "BuildWaiter", "CloudBuildPush", "parse_push", "record_push"]

FINISHED = frozenset({"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})
"""Cloud Build's statuses that end a build."""

_ID_MAX = 128


@dataclass(frozen=True, slots=True)
class CloudBuildPush:
    message_id: str
    build_id: str
    status: str
    trigger_id: str | None
    tag: str | None
    log_url: str | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _text(value: object, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def parse_push(data: Any) -> CloudBuildPush:
    """A Pub/Sub push body: ``{"message": {"attributes": {"buildId", "status"}, "data":
    <base64 Build JSON>, "messageId"}, "subscription"}``."""
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        raise PayloadError("not a Pub/Sub push: the body has no message object")
    message_id = _text(message.get("messageId") or message.get("message_id"), 255)
    if message_id is None:
        raise PayloadError("the Pub/Sub message has no messageId")
    attributes = message.get("attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    build: Mapping[str, Any] = {}
    if isinstance(message.get("data"), str):
        try:
            decoded = json.loads(base64.b64decode(message["data"], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise PayloadError(f"the message's data is not base64 JSON: {exc}") from exc
        build = decoded if isinstance(decoded, Mapping) else {}
    build_id = _text(attributes.get("buildId") or build.get("id"), _ID_MAX)
    status = _text(attributes.get("status") or build.get("status"), 32)
    if build_id is None or status is None:
        raise PayloadError(
            "not a Cloud Build notification: no buildId and status (subscribe to the "
            "cloud-builds topic)"
        )
    substitutions = build.get("substitutions")
    tag = substitutions.get("TAG_NAME") if isinstance(substitutions, Mapping) else None
    return CloudBuildPush(
        message_id=message_id,
        build_id=build_id,
        status=status,
        trigger_id=_text(build.get("buildTriggerId"), _ID_MAX),
        tag=_text(tag, 255),
        log_url=_text(build.get("logUrl"), 2048),
        finished_at=_time(build.get("finishTime")) if status in FINISHED else None,
    )


def record_push(database: Engine, push: CloudBuildPush) -> bool:
    """Store the notification; False for a message recorded before (a redelivery)."""
    with transaction(database) as session:
        return record_cloud_build_notification(
            session,
            message_id=push.message_id,
            build_id=push.build_id,
            status=push.status,
            trigger_id=push.trigger_id,
            tag=push.tag,
            log_url=push.log_url,
            finished_at=push.finished_at,
        )


class BuildWaiter:
    """Reads the notifications of one database; ``check_every_s`` bounds how late a
    recorded end is seen (one indexed read each)."""

    def __init__(self, database: Engine, *, check_every_s: float = 0.1) -> None:
        self.database = database
        self.check_every_s = check_every_s

    def status(self, build_id: str) -> str | None:
        with transaction(self.database, read_only=True) as session:
            found = cloud_build_status(session, build_id)
            return None if found is None else found.status

    def wait(self, build_id: str, timeout_s: float, stop: threading.Event | None = None) -> bool:
        """Whether a finished status of ``build_id`` is recorded within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.status(build_id) in FINISHED:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            time.sleep(min(self.check_every_s, left))  # bounded by the caller's timeout

    def sleep_for(self, build_id: str) -> Callable[[float], None]:
        """A ``sleep(seconds)`` for the follower of ``build_id``: it returns early once
        the build's end is recorded (the follower then reads the build at once)."""

        def sleep(seconds: float) -> None:
            self.wait(build_id, seconds)

        return sleep
