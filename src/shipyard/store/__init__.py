"""Shipyard's own data: SQLAlchemy models, data functions and Alembic migrations.

Data functions (one module per resource) take a :class:`~sqlalchemy.orm.Session` and
``flush()``; the caller owns the transaction, e.g. ``with transaction(engine) as session:``.
"""

from __future__ import annotations

from shipyard.store._database import READ_ONLY, open_database, session_factory, transaction
from shipyard.store.errors import AlreadyExistsError, MigrationError, NotFoundError, StoreError
from shipyard.store.migrate import current_revision, head_revision, upgrade

__all__ = [
    "READ_ONLY",
    "AlreadyExistsError",
    "MigrationError",
    "NotFoundError",
    "StoreError",
    "current_revision",
    "head_revision",
    "open_database",
    "session_factory",
    "transaction",
    "upgrade",
]
