"""One operation per stack at a time; different stacks in parallel threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.engine import Engine, EngineEventRecord, EventKind, OperationResult, StackRef
from shipyard.engine.testing import FileResource

pytestmark = pytest.mark.integration


def test_two_ups_on_one_stack_at_once_both_complete_one_after_the_other(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    start = threading.Barrier(2)
    streams: dict[str, list[EngineEventRecord]] = {"a": [], "b": []}

    def up(name: str) -> OperationResult:
        def program() -> None:
            FileResource("file", str(tmp_path / "out.txt"), name)

        start.wait(timeout=30)
        return engine.up(stack_ref, program, on_event=streams[name].append)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(up, ["a", "b"]))

    assert all(r.changed for r in results)
    first, second = sorted(streams.values(), key=lambda events: events[0].timestamp)
    assert first[-1].kind is EventKind.END
    assert first[-1].timestamp <= second[0].timestamp, "the two ups overlapped"
    assert (tmp_path / "out.txt").read_text() in {"a", "b"}


def test_four_stacks_run_in_parallel(
    engine: Engine, tmp_path: Path, new_ref: Callable[[], StackRef]
) -> None:
    refs = [new_ref() for _ in range(4)]

    def up(index: int) -> OperationResult:
        def program() -> None:
            FileResource("file", str(tmp_path / f"out-{index}.txt"), f"stack {index}")

        return engine.up(refs[index], program)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(up, range(4)))

    assert [r.stack for r in results] == refs
    assert all(r.changes == {"create": 2} for r in results)
    for index in range(4):
        assert (tmp_path / f"out-{index}.txt").read_text() == f"stack {index}"
    wall = max(r.duration_s for r in results)
    assert wall < sum(r.duration_s for r in results), "the stacks ran one after the other"
