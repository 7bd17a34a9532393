"""Errors of the use cases: a request that cannot be carried out as asked."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = ["InvalidRequestError", "RegistrationError"]


class InvalidRequestError(ShipyardError):
    """The request names things that exist but do not fit together, or nothing usable."""


class RegistrationError(InvalidRequestError):
    """A component cannot be registered from what was given."""
