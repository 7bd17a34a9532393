"""The root of Shipyard's domain errors; each layer subclasses it in its own module."""

from __future__ import annotations

__all__ = ["ShipyardError"]


class ShipyardError(Exception):
    """An error a user can act on: its message says what, where and how to fix it."""
