"""Every test using ``database`` runs on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from shipyard.testing.fixtures import database, database_url, postgres_cluster

__all__ = ["database", "database_url", "postgres_cluster"]
