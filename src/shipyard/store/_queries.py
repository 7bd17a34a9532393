"""Small helpers shared by the data functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from shipyard.store.errors import NotFoundError

__all__ = ["MAX_PAGE", "get_or_raise", "page"]

T = TypeVar("T")

MAX_PAGE = 500


def get_or_raise(session: Session, model: type[T], key: Any, kind: str) -> T:
    found = session.get(model, key)
    if found is None:
        raise NotFoundError(kind, key)
    return found


def page(session: Session, query: Select[T], offset: int, limit: int) -> Sequence[T]:
    limit = max(1, min(limit, MAX_PAGE))
    return session.scalars(query.offset(max(0, offset)).limit(limit)).all()
