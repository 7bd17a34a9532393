"""An ``up`` started before its program is known: run, abandoned, cancelled."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shipyard.engine import (
    CancelToken,
    Engine,
    EngineEventRecord,
    EventKind,
    OperationCancelledError,
    StackRef,
)
from shipyard.engine.testing import file_program

pytestmark = pytest.mark.integration

# Long enough for the CLI to start and ask for the program (0.3-0.5 s here).
_CLI_READY_S = 1.5


def test_a_pending_up_runs_the_program_it_is_handed_and_streams_its_events_after(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    events: list[EngineEventRecord] = []

    with engine.start_up(stack_ref, on_event=events.append) as pending:
        time.sleep(_CLI_READY_S)  # the CLI waits for the program meanwhile
        assert events == []  # nothing reaches the caller before its own records
        assert not target.exists()
        result = pending.run(file_program(target, "one"))

    assert result.changes == {"create": 2}
    assert result.outputs["content"].value == "one"
    assert target.read_text() == "one"
    assert events[0].kind is EventKind.PRELUDE
    assert events[-1].kind is EventKind.END
    with pytest.raises(RuntimeError, match="already run or abandoned"):
        pending.run(file_program(target, "two"))


def test_an_abandoned_up_changes_nothing_and_the_next_up_works(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    engine.up(stack_ref, file_program(target, "one"))
    events: list[EngineEventRecord] = []

    with engine.start_up(stack_ref, on_event=events.append) as pending:
        time.sleep(_CLI_READY_S)
    # Leaving the block without run() abandoned it: the program declared nothing.

    assert pending.handed
    assert events == []
    assert target.read_text() == "one"
    assert engine.outputs(stack_ref)["content"].value == "one"
    updates = sorted(
        (engine.data_dir / "state").rglob("*.history.json"), key=lambda p: p.stat().st_mtime
    )
    last = json.loads(updates[-1].read_text())
    assert last["result"] == "failed"  # the one trace it leaves: a failed, empty update
    assert last["resourceChanges"] == {"same": 1}

    after = engine.up(stack_ref, file_program(target, "two"))

    assert after.changes == {"same": 1, "update": 1}
    assert target.read_text() == "two"


def test_a_cancel_while_the_up_waits_for_its_program_cancels_it(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    token = CancelToken()
    pending = engine.start_up(stack_ref, cancel=token)
    time.sleep(_CLI_READY_S)

    token.cancel()

    with pytest.raises(OperationCancelledError):
        pending.run(file_program(target, "one"))
    assert not target.exists()
    # The failed update recorded the (new) stack itself, nothing of the program's.
    assert engine.up(stack_ref, file_program(target, "one")).changes == {"create": 1, "same": 1}
    assert target.read_text() == "one"
