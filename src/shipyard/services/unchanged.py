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
from shipyard.store.builds import latest_image_build
from shipyard.store.releases import desired_state_hash
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.engine import ContainerEngine
from shipyard.targets.local.errors import LocalTargetError
from shipyard.targets.local.labels import COMPONENT, ENVIRONMENT, REVISION

__all__ = [
    "START_UP",
    "current_release",
    "matches_current",
    "service_is_running",
    "start_up_hint",
    "up_is_certain",
]

START_UP = "start_up"
"""Job payload key: the request found the deploy's ``up`` certain (:func:`up_is_certain`)
with nothing else queued on its stack, so the job's process may start the ``up`` before it
reads its records; the value is :func:`start_up_hint`'s."""

_log = structlog.get_logger(__name__)


def current_release(session: Session, stack: models.Stack) -> models.Release | None:
    if stack.current_release_id is None or stack.destroyed_at is not None:
        return None
    return session.get_one(models.Release, stack.current_release_id)


def start_up_hint(component: models.Component, environment: models.Environment) -> dict[str, str]:
    """What a job needs to start its ``up`` before it reads its records (``START_UP``)."""
    return {
        "target": environment.target,
        "component": component.ref,
        "environment": environment.name,
    }


def up_is_certain(
    session: Session,
    deployment: models.Deployment,
    stack: models.Stack,
    component: models.Component,
    payload: Mapping[str, Any],
) -> bool:
    """By the records alone: the deploy runs an ``up`` of an image Shipyard recorded (the
    tag's build, or the release of a rollback or promote), because it is forced or that
    image is not the running one. Such a deploy starts its ``up`` first thing; one that
    needs a build, or may be unchanged, starts it once it knows."""
    release_id = payload.get("promote_release_id") or deployment.release_id
    if release_id is not None:
        digest = session.get_one(models.Release, int(release_id)).image_digest
    elif deployment.tag is not None:
        build = latest_image_build(session, component, deployment.tag)
        if build is None or build.image_digest is None:
            return False
        digest = build.image_digest
    else:
        return False
    running = current_release(session, stack)
    return deployment.force or running is None or running.image_digest != digest


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
        engine = containers or detect_container_engine(settings)
        found = engine.inspect(str(name))
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
