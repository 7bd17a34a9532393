"""Typed errors of real failures, and secrets kept out of events and logs."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import structlog

from shipyard.engine import (
    ConfigValue,
    Engine,
    EngineEventRecord,
    ProgramError,
    ResourceError,
    StackRef,
)
from shipyard.engine.testing import FailingResource, FileResource

pytestmark = pytest.mark.integration

SECRET = "hunter2-top-secret-value"


def raising_program() -> None:
    FileResource("file", "/nonexistent/never-created", "x")
    raise ValueError("the program is broken on purpose")


def test_a_program_that_raises_is_a_program_error_with_its_traceback(
    engine: Engine, stack_ref: StackRef
) -> None:
    with pytest.raises(ProgramError) as caught:
        engine.up(stack_ref, raising_program)

    error = caught.value
    assert error.stack == stack_ref
    assert "ValueError: the program is broken on purpose" in error.summary
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert "raising_program" in error.traceback
    assert "ValueError: the program is broken on purpose" in str(error)


def test_a_failing_provider_is_a_resource_error_naming_the_resource(
    engine: Engine, stack_ref: StackRef
) -> None:
    def program() -> None:
        FailingResource("doomed", "the disk is on fire")

    with pytest.raises(ResourceError) as caught:
        engine.up(stack_ref, program)

    error = caught.value
    assert any(urn.endswith("::doomed") for urn in error.urns)
    assert "the disk is on fire" in error.detail
    assert "doomed" in str(error)


def test_a_secret_config_value_appears_in_no_event_and_no_log_line(
    engine: Engine,
    stack_ref: StackRef,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def program() -> None:
        config = pulumi.Config()
        token = config.require_secret("token")
        FileResource("file", str(tmp_path / "token.txt"), token)
        pulumi.export("token", token)
        # A careless program that logs the plain value: Shipyard must still scrub it.
        pulumi.log.info(f"connecting with {config.require('token')}")

    events: list[EngineEventRecord] = []
    with structlog.testing.capture_logs() as logs:
        result = engine.up(
            stack_ref,
            program,
            config={"token": ConfigValue(SECRET, secret=True), "region": ConfigValue("eu")},
            on_event=events.append,
        )
        engine.up(
            stack_ref,
            program,
            config={"token": ConfigValue(SECRET, secret=True)},
            on_event=events.append,
        )

    assert (tmp_path / "token.txt").read_text() == SECRET  # the program did get it
    assert result.outputs["token"].secret
    assert result.outputs["token"].value == SECRET  # a secret output's value is not in events
    assert SECRET not in repr(result)
    assert any("connecting with [secret]" in e.message for e in events)
    for event in events:
        assert SECRET not in str(event.to_dict())
    assert logs, "the engine logs its operations"
    for line in logs:
        assert SECRET not in str(line)
    captured = capfd.readouterr()
    assert SECRET not in captured.out
    assert SECRET not in captured.err
    # Nor in anything Shipyard or Pulumi wrote: state, stack settings, Pulumi's own logs.
    written = [p for p in engine.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in written)
    assert all(SECRET.encode() not in p.read_bytes() for p in written)
