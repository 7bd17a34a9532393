"""Releases: an image digest plus the desired state resolved for one environment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.store._queries import get_or_raise, page
from shipyard.store.models import Build, Component, Environment, Release

__all__ = [
    "desired_state_hash",
    "ensure_release",
    "find_release",
    "get_release",
    "list_releases",
]


def desired_state_hash(image_digest: str, desired_state: dict[str, Any]) -> str:
    """sha256 of the digest and the canonical JSON of the state: equal hash, nothing to do."""
    canonical = json.dumps(
        {"image_digest": image_digest, "desired_state": desired_state},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def ensure_release(
    session: Session,
    component: Component,
    environment: Environment,
    *,
    image: str,
    image_digest: str,
    desired_state: dict[str, Any],
    tag: str | None = None,
    build: Build | None = None,
) -> Release:
    """The release for this digest and state, created unless an identical one exists."""
    digest = desired_state_hash(image_digest, desired_state)
    release = find_release(session, component, environment, digest)
    if release is None:
        release = Release(
            component_id=component.id,
            environment_id=environment.id,
            build_id=build.id if build else None,
            tag=tag,
            image=image,
            image_digest=image_digest,
            desired_state=desired_state,
            desired_state_hash=digest,
        )
        session.add(release)
        session.flush()
    return release


def find_release(
    session: Session, component: Component, environment: Environment, state_hash: str
) -> Release | None:
    """The release of this desired-state hash (:func:`desired_state_hash`), if recorded."""
    query = select(Release).where(
        Release.component_id == component.id,
        Release.environment_id == environment.id,
        Release.desired_state_hash == state_hash,
    )
    return session.scalars(query).one_or_none()


def get_release(session: Session, release_id: int) -> Release:
    return get_or_raise(session, Release, release_id, "release")


def list_releases(
    session: Session,
    component: Component,
    environment: Environment,
    *,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[Release]:
    """Newest first."""
    query = (
        select(Release)
        .where(Release.component_id == component.id, Release.environment_id == environment.id)
        .order_by(Release.id.desc())
    )
    return page(session, query, offset, limit)
