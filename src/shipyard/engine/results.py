"""Typed, frozen results of engine operations."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.engine.events import EngineEventRecord
from shipyard.engine.names import StackRef

__all__ = ["OperationKind", "OperationResult", "StackExport", "StackOutput"]

_NO_CHANGE_OPS = frozenset({"same", "read", "refresh"})


class OperationKind(enum.StrEnum):
    PREVIEW = "preview"
    UP = "up"
    REFRESH = "refresh"
    DESTROY = "destroy"


@dataclass(frozen=True, slots=True)
class StackOutput:
    """One stack output; a secret output's value is left out of ``repr``."""

    value: Any = field(repr=False)
    secret: bool = False

    def __repr__(self) -> str:
        shown = "[secret]" if self.secret else repr(self.value)
        return f"StackOutput(value={shown}, secret={self.secret})"


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What one preview, up, refresh or destroy did."""

    stack: StackRef
    operation: OperationKind
    changes: Mapping[str, int]
    """Resources per step op (``create``, ``update``, ``delete``, ``same``...)."""
    outputs: Mapping[str, StackOutput]
    duration_s: float
    events: tuple[EngineEventRecord, ...] = field(repr=False, default=())
    recovered: tuple[str, ...] = ()
    """What crash recovery repaired before the operation ran, one line each."""

    @property
    def changed(self) -> bool:
        """True when any resource was (or, for a preview, would be) changed."""
        return any(n for op, n in self.changes.items() if op not in _NO_CHANGE_OPS)


@dataclass(frozen=True, slots=True)
class StackExport:
    """A stack's state as ``pulumi stack export`` gives it (secrets stay encrypted)."""

    stack: StackRef
    version: int
    deployment: Mapping[str, Any] = field(repr=False)

    @property
    def resource_urns(self) -> tuple[str, ...]:
        resources = self.deployment.get("resources") or []
        return tuple(str(r["urn"]) for r in resources if "urn" in r)

    @property
    def pending_operations(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.deployment.get("pending_operations") or ())
