"""The engine's typed errors, and the one place Pulumi failures are mapped onto them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pulumi.automation import errors as sdk_errors

from shipyard.engine.names import StackRef
from shipyard.errors import ShipyardError

__all__ = [
    "EngineError",
    "FailureFacts",
    "OperationCancelledError",
    "ProgramError",
    "PulumiCommandError",
    "ResourceError",
    "StackLockedError",
    "StackNotFoundError",
    "translate_command_error",
]

_TRACEBACK_START = "Traceback (most recent call last):"
_INLINE_ERROR = "python inline source runtime error"
_PROGRAM_ERROR = re.compile(
    r"python inline source runtime error|failed with an unhandled exception|"
    r"an unhandled error occurred"
)
_LOCK_LINE = re.compile(r"^\s*(\S+?): created by (\S+) \(pid (\d+)\) at (.+)$", re.M)
_TAIL_LINES = 15


class EngineError(ShipyardError):
    """A Pulumi operation on one stack failed."""

    def __init__(self, stack: StackRef, message: str) -> None:
        super().__init__(message)
        self.stack = stack


class StackLockedError(EngineError):
    """Another update (another process, or another host) holds the stack's lock."""

    def __init__(self, stack: StackRef, holders: Sequence[str]) -> None:
        who = "; ".join(holders) or "an unknown process"
        super().__init__(
            stack,
            f"stack {stack} is locked by another update ({who}): wait for it to finish and "
            "retry; if that process is gone on another host, run `pulumi cancel` for the stack",
        )
        self.holders = tuple(holders)


class StackNotFoundError(EngineError):
    """The stack does not exist in the state backend."""

    def __init__(self, stack: StackRef, backend: str) -> None:
        super().__init__(
            stack,
            f"stack {stack} does not exist in the state backend {backend}: run `up` on it "
            "first, or check the component and environment names",
        )


class ProgramError(EngineError):
    """The Pulumi program itself raised; ``traceback`` is the program's Python traceback."""

    def __init__(self, stack: StackRef, summary: str, traceback: str) -> None:
        super().__init__(
            stack,
            f"the Pulumi program of stack {stack} raised: {summary}; fix the program "
            f"(its traceback follows)\n{traceback}",
        )
        self.summary = summary
        self.traceback = traceback


class ResourceError(EngineError):
    """A provider failed to create, update, read or delete the named resources."""

    def __init__(self, stack: StackRef, urns: Sequence[str], detail: str) -> None:
        names = ", ".join(urns)
        super().__init__(
            stack,
            f"resource operation failed in stack {stack} for {names}: {detail}; fix the "
            "resource's inputs or the system it manages, then run the operation again",
        )
        self.urns = tuple(urns)
        self.detail = detail


class OperationCancelledError(EngineError):
    """The operation was cancelled on request; the stack is left ready for the next run."""

    def __init__(self, stack: StackRef, operation: str, escalation: str) -> None:
        super().__init__(
            stack,
            f"{operation} of stack {stack} was cancelled ({escalation}); run it again when "
            "ready: pending operations are resolved before the next run",
        )
        self.operation = operation
        self.escalation = escalation


class PulumiCommandError(EngineError):
    """Any other failure of the Pulumi CLI; the message carries the end of its output."""

    def __init__(self, stack: StackRef, operation: str, output_tail: str) -> None:
        super().__init__(
            stack,
            f"pulumi {operation} failed for stack {stack}; last lines of its output:\n"
            f"{output_tail}",
        )
        self.output_tail = output_tail


@dataclass(slots=True)
class FailureFacts:
    """What an operation observed that explains a failure, gathered from its events."""

    program_traceback: str | None = None
    program_summary: str | None = None
    failed_urns: list[str] = field(default_factory=list)
    error_messages: list[tuple[str | None, str]] = field(default_factory=list)
    cancel_escalation: str | None = None


def translate_command_error(
    error: sdk_errors.CommandError,
    *,
    stack: StackRef,
    operation: str,
    backend: str,
    facts: FailureFacts,
    scrub: Callable[[str], str],
) -> EngineError:
    """Map an Automation API failure onto Shipyard's typed errors; ``scrub`` masks secrets."""
    text = scrub(str(error))
    if facts.cancel_escalation is not None:
        return OperationCancelledError(stack, operation, facts.cancel_escalation)
    if isinstance(error, sdk_errors.ConcurrentUpdateError):
        return StackLockedError(stack, lock_holders(text))
    if isinstance(error, sdk_errors.StackNotFoundError):
        return StackNotFoundError(stack, backend)
    program = _program_error(stack, text, facts)
    if program is not None:
        return program
    if facts.failed_urns or any(urn for urn, _ in facts.error_messages):
        return _resource_error(stack, facts)
    return PulumiCommandError(stack, operation, _tail(text))


def lock_holders(text: str) -> list[str]:
    """``user@host (pid N) since T`` for each lock the CLI reports in ``text``."""
    return [
        f"{who} (pid {pid}) since {when.strip()}"
        for _path, who, pid, when in _LOCK_LINE.findall(text)
    ]


def _program_error(stack: StackRef, text: str, facts: FailureFacts) -> ProgramError | None:
    if facts.program_traceback is not None:
        return ProgramError(stack, facts.program_summary or "exception", facts.program_traceback)
    for _urn, message in facts.error_messages:
        if _INLINE_ERROR in message:
            return ProgramError(stack, _first_line(message), _traceback_in(message))
    stdout = _stdout_of(text)
    if _PROGRAM_ERROR.search(stdout):
        return ProgramError(stack, "unhandled exception", _traceback_in(stdout))
    return None


def _stdout_of(text: str) -> str:
    """The CLI's stdout in the text of a ``CommandError`` (code, stdout, stderr)."""
    head, _sep, _stderr = text.rpartition("\n stderr: ")
    return head.partition("\n stdout: ")[2] if head else text


def _resource_error(stack: StackRef, facts: FailureFacts) -> ResourceError:
    urns = list(dict.fromkeys([*facts.failed_urns, *(u for u, _ in facts.error_messages if u)]))
    details = [message.strip() for urn, message in facts.error_messages if urn]
    return ResourceError(stack, urns, "; ".join(details) or "see the operation's events")


def _traceback_in(text: str) -> str:
    start = text.find(_TRACEBACK_START)
    return text[start:].strip() if start >= 0 else _tail(text)


def _first_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "exception"
    return first.removeprefix(_INLINE_ERROR + ":").strip()


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])
