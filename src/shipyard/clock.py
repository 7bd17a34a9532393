"""Time as a port: code that decides by the clock takes a :class:`Clock`; tests pass a fake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return utc_now()


SYSTEM_CLOCK: Clock = SystemClock()
