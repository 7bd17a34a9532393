"""Shipyard's own records of what an operation did, streamed to a callback as it runs."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["EngineEventRecord", "EventKind", "EventSink", "Severity"]


class EventKind(enum.StrEnum):
    PRELUDE = "prelude"
    """The operation started (carries no config values)."""
    RESOURCE_STEP = "resource_step"
    """A resource step is about to run: ``op`` says create, update, delete, same..."""
    RESOURCE_DONE = "resource_done"
    """A resource step finished."""
    RESOURCE_FAILED = "resource_failed"
    DIAGNOSTIC = "diagnostic"
    """A message from the engine, a provider or the program (``pulumi.log``)."""
    OUTPUT = "output"
    """A line of the CLI's own progress output."""
    POLICY = "policy"
    SUMMARY = "summary"
    """The operation ended: ``changes`` counts resources by step op."""
    END = "end"
    """The engine's event stream ended (Pulumi's "cancel event", sent at the end of every run)."""
    RECOVERY = "recovery"
    """Shipyard repaired the stack before running: a stale lock, pending operations."""
    CANCEL = "cancel"
    """Shipyard is cancelling the operation: each escalation step."""


class Severity(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class EngineEventRecord:
    """One event of one operation; ``sequence`` orders the events of the operation."""

    sequence: int
    timestamp: datetime
    stack: str
    command: str
    kind: EventKind
    severity: Severity = Severity.INFO
    message: str = ""
    urn: str | None = None
    resource_type: str | None = None
    op: str | None = None
    changed_keys: tuple[str, ...] = ()
    changes: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "timestamp": self.timestamp.isoformat(),
            "stack": self.stack,
            "command": self.command,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "message": self.message,
            "urn": self.urn,
            "resource_type": self.resource_type,
            "op": self.op,
            "changed_keys": list(self.changed_keys),
            "changes": dict(self.changes),
        }


EventSink = Callable[[EngineEventRecord], None]
"""Receives each record as it happens, from the engine's threads; it should not block."""
