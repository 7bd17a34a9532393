"""Alembic's entry point; run through :func:`shipyard.store.upgrade`, not the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from shipyard.store.models import Base

# Any constant: concurrent upgrades of one PostgreSQL database wait for each other.
_PG_MIGRATION_LOCK = 0x5348_4950_5941_5244 >> 1


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with shipyard.store.upgrade(), which passes a connection")
_run(connection)
