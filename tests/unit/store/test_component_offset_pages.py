"""``list_components(offset=N)``: a page found by its first key (a deferred join) holds
exactly the rows of a plain ``ORDER BY namespace, name OFFSET N``, on SQLite and on
PostgreSQL (each with its own ordering of the names), at any offset, past the end too."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shipyard.store import transaction
from shipyard.store.components import list_components, upsert_component
from shipyard.store.models import Component

# Names whose order depends on the database's collation (case, punctuation, accents,
# digits), in namespaces that sort differently from their names.
NAMES = [
    "a",
    "A",
    "a-b",
    "ab",
    "a_b",
    "B",
    "b",
    "é",
    "e",
    "z9",
    "z10",
    "svc-00001",
    "svc-1",
    "Ωmega",
    "x y",
]
NAMESPACES = ["default", "Default", "payments", "a"]


def _register(session: Session) -> None:
    for namespace in NAMESPACES:
        for name in NAMES:
            upsert_component(session, namespace, name, descriptor={"metadata": {"name": name}})


def _plain(
    session: Session, offset: int, limit: int, after: tuple[str, str] | None = None
) -> list[str]:
    """The page as a plain OFFSET gives it: the reference."""
    query = select(Component).order_by(Component.namespace, Component.name)
    if after is not None:
        namespace, name = after
        query = query.where(
            (Component.namespace > namespace)
            | ((Component.namespace == namespace) & (Component.name > name))
        )
    return [c.ref for c in session.scalars(query.offset(offset).limit(limit))]


def test_offset_pages_are_the_plain_offset_pages(database: Engine) -> None:
    with transaction(database) as session:
        _register(session)
    total = len(NAMES) * len(NAMESPACES)

    with transaction(database, read_only=True) as session:
        everything = _plain(session, 0, total + 10)
        assert len(everything) == total
        assert [c.ref for c in list_components(session, limit=500)] == everything
        for offset in (0, 1, 2, 7, total // 2, total - 3, total - 1):
            for limit in (1, 3, 50):
                page = [c.ref for c in list_components(session, offset=offset, limit=limit)]
                assert page == everything[offset : offset + limit], (offset, limit)
                assert page == _plain(session, offset, limit)
        for past in (total, total + 1, 1_000_000_000):
            assert list(list_components(session, offset=past, limit=50)) == []


def test_walking_by_offset_visits_every_component_once_in_order(database: Engine) -> None:
    with transaction(database) as session:
        _register(session)

    with transaction(database, read_only=True) as session:
        seen: list[str] = []
        offset = 0
        while page := list_components(session, offset=offset, limit=4):
            seen += [c.ref for c in page]
            offset += len(page)
        assert seen == _plain(session, 0, 1000)
        assert len(set(seen)) == len(NAMES) * len(NAMESPACES)


def test_an_offset_after_a_component_counts_from_that_component(database: Engine) -> None:
    with transaction(database) as session:
        _register(session)

    with transaction(database, read_only=True) as session:
        everything = _plain(session, 0, 1000)
        namespace, name = everything[10].split("/", 1)
        after = (namespace, name)
        rest = everything[11:]
        for offset in (0, 1, 5, len(rest) - 1, len(rest), len(rest) + 5):
            page = [c.ref for c in list_components(session, offset=offset, limit=3, after=after)]
            assert page == rest[offset : offset + 3], offset
            assert page == _plain(session, offset, 3, after)
        gone = ("payments", "b-is-gone")  # not a component: only a position
        assert [c.ref for c in list_components(session, offset=2, limit=2, after=gone)] == (
            _plain(session, 2, 2, gone)
        )
