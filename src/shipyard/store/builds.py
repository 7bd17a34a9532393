"""Builds: an image built from a component's repository at a ref."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.store._queries import get_or_raise
from shipyard.store.enums import BuildStatus
from shipyard.store.models import Build, Component
from shipyard.store.subscriptions import record_build_failed

__all__ = ["create_build", "finish_build", "get_build", "latest_image_build"]


def create_build(
    session: Session, component: Component, ref: str, *, job_id: int | None = None
) -> Build:
    build = Build(component_id=component.id, ref=ref, job_id=job_id)
    session.add(build)
    session.flush()
    return build


def get_build(session: Session, build_id: int) -> Build:
    return get_or_raise(session, Build, build_id, "build")


def finish_build(
    session: Session,
    build: Build,
    status: BuildStatus,
    *,
    image: str | None = None,
    image_digest: str | None = None,
    commit: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> Build:
    build.status = status
    build.image = image
    build.image_digest = image_digest
    build.commit = commit or build.commit
    build.error = error
    build.finished_at = at or utc_now()
    session.flush()
    if status is BuildStatus.failed:
        record_build_failed(session, build)  # webhooks out (outbox), in this transaction
    return build


def latest_image_build(session: Session, component: Component, ref: str) -> Build | None:
    """The newest successful build of ``ref``: if there is one, no build is needed."""
    query = (
        select(Build)
        .where(
            Build.component_id == component.id,
            Build.ref == ref,
            Build.status == BuildStatus.succeeded,
            Build.image_digest.is_not(None),
        )
        .order_by(Build.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
