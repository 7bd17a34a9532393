"""Pulumi failures -> Shipyard's typed errors, from the CLI texts seen in practice."""

from __future__ import annotations

from pulumi.automation import CommandResult
from pulumi.automation.errors import create_command_error

from shipyard.engine import (
    OperationCancelledError,
    ProgramError,
    PulumiCommandError,
    ResourceError,
    StackLockedError,
    StackNotFoundError,
    StackRef,
)
from shipyard.engine._convert import Scrubber
from shipyard.engine.errors import FailureFacts, translate_command_error
from shipyard.errors import ShipyardError

REF = StackRef("orders", "dev")
BACKEND = "file:///var/lib/shipyard/state"

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other "
    "process(es) to end or delete the lock file with `pulumi cancel`.\n"
    "  file:///s/.pulumi/locks/organization/orders/dev/x.json?no_tmp_dir=true: created by "
    "ann@build-1 (pid 4242) at 2026-11-26T18:16:27Z"
)
TRACEBACK = (
    'Traceback (most recent call last):\n  File "app.py", line 3, in program\nValueError: boom'
)


def translate(
    stderr: str = "",
    stdout: str = "",
    facts: FailureFacts | None = None,
    secrets: tuple[str, ...] = (),
) -> ShipyardError:
    error = create_command_error(CommandResult(stdout=stdout, stderr=stderr, code=1))
    return translate_command_error(
        error,
        stack=REF,
        operation="up",
        backend=BACKEND,
        facts=facts or FailureFacts(),
        scrub=Scrubber(secrets),
    )


def test_a_lock_conflict_names_the_holder_and_how_to_proceed() -> None:
    error = translate(stderr=LOCKED)
    assert isinstance(error, StackLockedError)
    assert error.holders == ("ann@build-1 (pid 4242) since 2026-11-26T18:16:27Z",)
    assert "orders/dev" in str(error)
    assert "pulumi cancel" in str(error)


def test_a_missing_stack() -> None:
    error = translate(stderr="error: no stack named 'dev' found")
    assert isinstance(error, StackNotFoundError)
    assert BACKEND in str(error)


def test_a_program_error_prefers_the_captured_traceback() -> None:
    facts = FailureFacts(program_traceback=TRACEBACK, program_summary="ValueError: boom")
    error = translate(stdout="python inline source runtime error: boom", facts=facts)
    assert isinstance(error, ProgramError)
    assert error.traceback == TRACEBACK
    assert "ValueError: boom" in str(error)


def test_a_program_error_found_in_the_diagnostics() -> None:
    facts = FailureFacts(
        error_messages=[(None, f"python inline source runtime error: boom\n{TRACEBACK}")]
    )
    error = translate(stdout="error: an unhandled error occurred", facts=facts)
    assert isinstance(error, ProgramError)
    assert error.summary == "boom"
    assert error.traceback == TRACEBACK


def test_a_program_error_found_only_in_the_output() -> None:
    error = translate(stdout=f"error: an unhandled error occurred:\n{TRACEBACK}")
    assert isinstance(error, ProgramError)
    assert error.traceback == TRACEBACK


def test_a_provider_failure_names_the_resource() -> None:
    urn = "urn:pulumi:dev::orders::pulumi-python:dynamic:Resource::bucket"
    facts = FailureFacts(failed_urns=[urn], error_messages=[(urn, "quota exceeded")])
    error = translate(stderr="error: update failed", facts=facts)
    assert isinstance(error, ResourceError)
    assert error.urns == (urn,)
    assert "bucket" in str(error)
    assert "quota exceeded" in str(error)


def test_a_requested_cancel_wins_over_the_cli_text() -> None:
    error = translate(
        stderr="error: update canceled", facts=FailureFacts(cancel_escalation="SIGINT")
    )
    assert isinstance(error, OperationCancelledError)
    assert error.escalation == "SIGINT"


def test_anything_else_keeps_the_end_of_the_output_scrubbed() -> None:
    error = translate(
        stderr="\n".join(f"line {i}" for i in range(40)) + "\nthe key is s3cr3t",
        secrets=("s3cr3t",),
    )
    assert isinstance(error, PulumiCommandError)
    assert "line 39" in str(error)
    assert "line 10" not in str(error)
    assert "s3cr3t" not in str(error)
    assert "[secret]" in str(error)
