"""How long a transient failure waits before its next attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["DEFAULT_BACKOFF", "Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential: ``base * factor ** (attempt - 1)``, at most ``maximum`` seconds."""

    base: float = 5.0
    factor: float = 2.0
    maximum: float = 300.0

    def delay(self, attempt: int) -> timedelta:
        """The wait after attempt number ``attempt`` (1 for the first) failed."""
        return timedelta(seconds=min(self.maximum, self.base * self.factor ** max(0, attempt - 1)))


DEFAULT_BACKOFF = Backoff()
