"""Components: Backstage entities registered with Shipyard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from shipyard.store._queries import get_or_raise, page
from shipyard.store.errors import NotFoundError
from shipyard.store.models import Component

__all__ = [
    "find_component",
    "get_component",
    "get_component_by_ref",
    "list_components",
    "upsert_component",
]


def upsert_component(
    session: Session,
    namespace: str,
    name: str,
    *,
    descriptor: dict[str, Any],
    owner: str | None = None,
    template: str | None = None,
    source: str | None = None,
) -> Component:
    """Register a component, or update the one with this ``namespace/name`` (a sync)."""
    component = find_component(session, namespace, name)
    if component is None:
        component = Component(namespace=namespace, name=name, descriptor=descriptor)
        session.add(component)
    component.descriptor = descriptor
    component.owner = owner
    component.template = template
    component.source = source
    session.flush()
    return component


def find_component(session: Session, namespace: str, name: str) -> Component | None:
    query = select(Component).where(Component.namespace == namespace, Component.name == name)
    return session.scalars(query).one_or_none()


def get_component(session: Session, component_id: int) -> Component:
    return get_or_raise(session, Component, component_id, "component")


def get_component_by_ref(session: Session, namespace: str, name: str) -> Component:
    component = find_component(session, namespace, name)
    if component is None:
        raise NotFoundError("component", f"{namespace}/{name}")
    return component


def list_components(
    session: Session, *, offset: int = 0, limit: int = 100, after: tuple[str, str] | None = None
) -> Sequence[Component]:
    """Components by namespace and name; ``after``: only those after this (namespace,
    name), found by the index (a keyset page costs the same at any depth; an ``offset``
    walks every row it skips)."""
    query = select(Component).order_by(Component.namespace, Component.name)
    if after is not None:
        query = query.where(tuple_(Component.namespace, Component.name) > tuple_(*after))
    return page(session, query, offset, limit)
