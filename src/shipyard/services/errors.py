"""Errors of the use cases: a request that cannot be carried out as asked."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = [
    "InvalidRequestError",
    "NothingRunningError",
    "PlatformMissingError",
    "RegistrationError",
    "TargetUnavailableError",
]


class InvalidRequestError(ShipyardError):
    """The request names things that exist but do not fit together, or nothing usable."""


class RegistrationError(InvalidRequestError):
    """A component cannot be registered from what was given."""


class TargetUnavailableError(InvalidRequestError):
    """The environment's target cannot run here (yet)."""


class NothingRunningError(InvalidRequestError):
    """A rollback or promote needs a release that is not there."""


class PlatformMissingError(InvalidRequestError):
    """No platform file is configured, so no environment can be resolved."""
