"""Is the release asked for already running? Equal desired-state hash (which covers the
image digest) AND a cheap check that the recorded revision container still runs the
recorded image: trust alone would miss drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.orm import Session

from shipyard.settings import Settings
from shipyard.store import models
from shipyard.store.releases import desired_state_hash
from shipyard.targets.local.containers import ContainerEngine
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.errors import LocalTargetError
from shipyard.targets.local.labels import COMPONENT, ENVIRONMENT, REVISION

__all__ = ["current_release", "matches_current", "service_is_running"]

_log = structlog.get_logger(__name__)


def current_release(session: Session, stack: models.Stack) -> models.Release | None:
    if stack.current_release_id is None or stack.destroyed_at is not None:
        return None
    return session.get_one(models.Release, stack.current_release_id)


def matches_current(
    session: Session, stack: models.Stack, image_digest: str, desired_state: dict[str, Any]
) -> models.Release | None:
    """The stack's current release if it has this digest and desired state, else None."""
    release = current_release(session, stack)
    if release is None or release.image_digest != image_digest:
        return None
    same = release.desired_state_hash == desired_state_hash(image_digest, desired_state)
    return release if same else None


def service_is_running(
    settings: Settings,
    stack_outputs: Mapping[str, Any],
    *,
    containers: ContainerEngine | None = None,
) -> bool:
    """The recorded revision container runs, with the recorded image (one inspect)."""
    name = stack_outputs.get("container")
    image_id = stack_outputs.get("image_id")
    if not name or not image_id:
        return False
    try:
        containers = containers or detect_container_engine(settings)
        found = containers.inspect(str(name))
    except LocalTargetError as exc:
        _log.info("drift.check", container=name, running=False, reason=str(exc))
        return False
    labels = found.labels
    expected = {
        COMPONENT: stack_outputs.get("component"),
        ENVIRONMENT: stack_outputs.get("environment"),
        REVISION: str(stack_outputs.get("revision")),
    }
    ok = (
        found.running
        and found.image_id.removeprefix("sha256:") == str(image_id).removeprefix("sha256:")
        and all(labels.get(key) == value for key, value in expected.items())
    )
    _log.info("drift.check", container=name, running=ok)
    return ok
