"""Errors of the storage layer; the API maps them to HTTP once."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = ["AlreadyExistsError", "MigrationError", "NotFoundError", "StoreError"]


class StoreError(ShipyardError):
    """Something about Shipyard's own database."""


class NotFoundError(StoreError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!s} not found")
        self.kind = kind
        self.key = key


class AlreadyExistsError(StoreError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!s} already exists")
        self.kind = kind
        self.key = key


class MigrationError(StoreError):
    """The database schema could not be brought up to date."""
