"""What a worker tells its job's child process, and what the child reports back.

The setup is the child's argument (the same for every job of a worker: the child starts
before its job is known); the spec comes over a pipe when a job is claimed; the outcome is
a JSON file the child writes last, so a child that died without reporting leaves none.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard._files import write_atomic
from shipyard.settings import Settings

__all__ = ["ChildSetup", "ChildSpec", "Outcome", "OutcomeKind", "read_outcome", "write_outcome"]


@dataclass(frozen=True, slots=True)
class ChildSetup:
    """What a child needs before its job: the worker's."""

    settings: Settings
    """The worker's settings, which the child runs with (pickled: the child need not
    validate them again, 5 ms of a fresh process)."""
    orphan_grace_s: float
    """How long an orphaned child (its worker died) may take to cancel before it exits."""
    handler_modules: tuple[str, ...] = ()
    """The modules of the worker's handlers, whose process warm-up the child runs."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """The job the child runs."""

    job_id: int
    kind: str
    stack_key: str
    payload: dict[str, Any]
    attempt: int
    needs_recovery: bool
    handler: str
    """``module:function``."""
    outcome_path: str
    lease_token: int | None = None
    """The claim's lease token: each write of the job checks it still holds the lease."""


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
    write_atomic(path, json.dumps(asdict(outcome)))


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
