"""Environments: the stages of ``platform.yaml``, in promotion order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.store.errors import NotFoundError
from shipyard.store.models import Environment

__all__ = ["get_environment", "list_environments", "next_environment", "upsert_environment"]


def upsert_environment(
    session: Session,
    name: str,
    *,
    target: str,
    position: int,
    auto_deploy: bool = False,
    settings: dict[str, Any] | None = None,
) -> Environment:
    environment = session.scalars(select(Environment).where(Environment.name == name)).first()
    if environment is None:
        environment = Environment(name=name, target=target)
        session.add(environment)
    environment.target = target
    environment.position = position
    environment.auto_deploy = auto_deploy
    environment.settings = settings or {}
    session.flush()
    return environment


def get_environment(session: Session, name: str) -> Environment:
    environment = session.scalars(select(Environment).where(Environment.name == name)).first()
    if environment is None:
        raise NotFoundError("environment", name)
    return environment


def list_environments(session: Session) -> Sequence[Environment]:
    query = select(Environment).order_by(Environment.position, Environment.name)
    return session.scalars(query).all()


def next_environment(session: Session, environment: Environment) -> Environment | None:
    """The environment a release running in ``environment`` is promoted to."""
    query = (
        select(Environment)
        .where(Environment.position > environment.position)
        .order_by(Environment.position, Environment.name)
    )
    return session.scalars(query).first()
