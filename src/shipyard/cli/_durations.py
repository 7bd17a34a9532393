"""Durations people type: ``30d``, ``12h``, ``90m``, ``2w``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

from shipyard.cli._client import ClientError
from shipyard.cli._utilities import EXIT_USAGE

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, *, option: str) -> timedelta:
    """``30d`` -> 30 days; anything else is a usage error naming ``option``."""
    found = _DURATION.match(text)
    if found is None or int(found.group(1)) == 0:
        raise ClientError(
            f"{option} {text!r} is not a duration: write a positive number and a unit, "
            "e.g. 30d, 12h, 90m, 2w or 45s",
            exit_code=EXIT_USAGE,
        )
    return timedelta(**{_UNIT[found.group(2)]: int(found.group(1))})
