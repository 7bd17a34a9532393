"""The target of an environment, opened for one job: ``local`` now, ``gcp`` later."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.services.errors import TargetUnavailableError
from shipyard.settings import Settings
from shipyard.targets.local.flow import LocalTarget

__all__ = ["AVAILABLE_TARGETS", "check_target", "open_target"]

AVAILABLE_TARGETS = frozenset({"local"})


def check_target(name: str, environment: str) -> None:
    """Raise unless this Shipyard can run environment ``environment``'s target ``name``."""
    if name == "gcp":
        raise TargetUnavailableError(
            f"environment {environment!r} targets gcp, which is not yet available in "
            "Shipyard: deploy to an environment with `target: local` for now"
        )
    if name not in AVAILABLE_TARGETS:
        raise TargetUnavailableError(
            f"environment {environment!r} targets {name!r}, which Shipyard does not know: "
            f"set its `target` in platform.yaml to one of {sorted(AVAILABLE_TARGETS)}"
        )


@contextmanager
def open_target(settings: Settings, name: str, environment: str) -> Iterator[LocalTarget]:
    check_target(name, environment)
    with LocalTarget.from_settings(settings) as target:
        yield target
