"""Every test using ``engine`` runs on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from shipyard.testing.fixtures import database_url, engine, postgres_cluster

__all__ = ["database_url", "engine", "postgres_cluster"]
