"""A small engine run for ``make run``: one file resource, up twice, events printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi

from shipyard.engine.engine import Engine
from shipyard.engine.events import EngineEventRecord, EventKind
from shipyard.engine.names import StackRef
from shipyard.engine.results import OperationResult
from shipyard.engine.testing import FileResource

__all__ = ["DEMO_STACK", "describe", "run_demo"]

DEMO_STACK = StackRef.of("shipyard/demo", "local")
_GREETING = "Hello from Shipyard: this file is a Pulumi dynamic-provider resource.\n"


def _program(path: Path) -> Callable[[], None]:
    def program() -> None:
        greeting = FileResource("greeting", str(path), _GREETING)
        pulumi.export("path", greeting.id)

    return program


def run_demo(
    engine: Engine, on_event: Callable[[EngineEventRecord], None] | None = None
) -> list[OperationResult]:
    """``up`` the demo stack twice: the second ``up`` has nothing to change."""
    program = _program(engine.data_dir / "demo" / "greeting.txt")
    return [engine.up(DEMO_STACK, program, on_event=on_event) for _ in range(2)]


def describe(record: EngineEventRecord) -> str | None:
    """One printable line per interesting event (None for the CLI's own progress text)."""
    if record.kind in (EventKind.OUTPUT, EventKind.END):
        return None
    kind, severity = record.kind.value, record.severity.value
    return f"  {record.sequence:>3} {kind:<14} {severity:<7} {record.message}"
