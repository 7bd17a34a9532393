"""Components: Backstage entities registered with Shipyard."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    "walk_components",
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
    name), found by the index (a keyset page costs the same at any depth).

    An ``offset`` is a deferred join, in one statement: the key of the page's first row
    is found by walking only the unique index on (namespace, name) (an index-only scan
    on PostgreSQL once the table is vacuumed), then the page is read from that key on
    like a keyset page. The rows are those of a plain ``OFFSET`` (the order is total,
    the key being unique), without reading every skipped row from the table; past the
    end there is no first key and the page is empty."""
    key = tuple_(Component.namespace, Component.name)
    order = (Component.namespace, Component.name)
    start = key > tuple_(*after) if after is not None else None
    if offset > 0:
        keys = select(*order).order_by(*order)
        if start is not None:
            keys = keys.where(start)
        first = keys.offset(offset).limit(1).cte("first_key")
        start = key >= tuple_(
            select(first.c.namespace).scalar_subquery(), select(first.c.name).scalar_subquery()
        )
    query = select(Component).order_by(*order)
    if start is not None:
        query = query.where(start)
    return page(session, query, 0, limit)


def walk_components(session: Session, *, page_size: int = 500) -> Iterator[Component]:
    """Every component by namespace and name, read ``page_size`` at a time by key (one
    index lookup a page, linear in the catalog's size)."""
    after: tuple[str, str] | None = None
    while rows := list_components(session, after=after, limit=page_size):
        yield from rows
        after = (rows[-1].namespace, rows[-1].name)
