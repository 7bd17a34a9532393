"""What a worker tells its job's child process, and what the child reports back.

The spec is the child's argument; the outcome a JSON file the child writes last, so a
child that died without reporting leaves none.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard.settings import Settings

__all__ = ["ChildSpec", "Outcome", "OutcomeKind", "read_outcome", "write_outcome"]


@dataclass(frozen=True, slots=True)
class ChildSpec:
    job_id: int
    kind: str
    stack_key: str
    payload: dict[str, Any]
    attempt: int
    needs_recovery: bool
    handler: str
    """``module:function``."""
    settings: Settings
    """The worker's settings, which the child runs with (pickled with the spec: the
    child need not validate them again, 5 ms of a fresh process)."""
    outcome_path: str
    orphan_grace_s: float
    """How long an orphaned child (its worker died) may take to cancel before it exits."""


class OutcomeKind(enum.StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    result: dict[str, Any] | None = None
    error: str | None = None
    transient: bool = False


def write_outcome(path: Path, outcome: Outcome) -> None:
    """Write atomically: a reader sees the whole outcome or none."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(outcome)))
    partial.replace(path)


def read_outcome(path: Path) -> Outcome | None:
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Outcome(
        kind=OutcomeKind(raw["kind"]),
        result=raw["result"],
        error=raw["error"],
        transient=bool(raw["transient"]),
    )
