"""The SDK's ``Stack``, taking an operation's outputs and summary from its own events.

After ``pulumi up`` the SDK runs ``pulumi stack output`` twice (masked, then with
secrets, which derives the passphrase key) and ``pulumi stack history``; after a refresh
or destroy, the history again. Measured here: 0.6 s and 0.7 CPU-seconds per ``up`` of a
small stack, 40% of it, to learn what the operation's events already said. The events
carry the stack's outputs (on the root stack resource's outputs event, secrets masked)
and the change counts (the summary event), so this class answers from them and asks the
CLI only when they cannot: a secret output (its value is not in the events) or an event
stream that did not end.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode
from pulumi.automation.events import OpType

from shipyard.engine._convert import EventStream

# The Automation API imports gRPC's server and channel modules at a process's first
# operation (37 ms here); importing them with the engine puts them in every process that
# preloads it, such as the job fork server, instead of in each job's first `up`.
for _module in ("grpc._channel", "grpc._server", "grpc.experimental"):
    importlib.import_module(_module)

__all__ = ["SdkStack", "open_stack", "warm_up_program_server"]

_log = structlog.get_logger(__name__)

# Pulumi's marker of a secret value in serialized state and events.
_SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105  (a marker, not a secret)
# How long to wait for the event stream's end once the CLI exited (the SDK itself gives
# its event server 5 s to drain).
_END_WAIT_S = 5.0
_HISTORY_KINDS = {"up": "update", "refresh": "refresh", "destroy": "destroy"}


def warm_up_program_server() -> None:
    """Start and stop a gRPC server, as an inline program's operation does: gRPC starts
    its pollers and threads with a process's first server (6 ms here, 2 ms after), which a
    job process made ready ahead of its job can do before the job's ``up`` waits on it.
    Never in a process that forks afterwards (gRPC's threads do not survive a fork)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_insecure_port("127.0.0.1:0")
    server.start()
    server.stop(None)


def open_stack(name: str, workspace: auto.LocalWorkspace, *, create: bool) -> SdkStack:
    """``Stack.create_or_select`` (``create``) or ``Stack.select``, as an :class:`SdkStack`."""
    mode = StackInitMode.CREATE_OR_SELECT if create else StackInitMode.SELECT
    return SdkStack(name, workspace, mode)


class SdkStack(auto.Stack):
    events: EventStream | None = None
    """The running operation's event stream; set by the engine around each operation."""

    def outputs(self) -> auto.OutputMap:
        found = self._ended_stream()
        outputs = found.stack_outputs if found is not None else None
        if outputs is not None and not _has_secret(outputs):
            return {name: auto.OutputValue(value, False) for name, value in outputs.items()}
        return super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        found = self._ended_stream()
        if found is not None and found.command in _HISTORY_KINDS:
            changes = _op_counts(found.summary_changes)
            if changes is not None:
                return auto.UpdateSummary(
                    kind=_HISTORY_KINDS[found.command],
                    start_time=found.started_at,
                    message="",
                    environment={},
                    config={},
                    result="succeeded",  # asked only once the CLI succeeded
                    end_time=datetime.now(UTC),
                    resource_changes=changes,
                )
        return super().info(show_secrets)

    def _ended_stream(self) -> EventStream | None:
        stream = self.events
        if stream is None:
            return None
        if not stream.ended.wait(_END_WAIT_S):
            _log.warning(
                "the operation's event stream did not end; asking the CLI instead",
                stack_ref=stream.stack,
            )
            return None
        return stream


def _op_counts(changes: Mapping[str, int] | None) -> dict[OpType, int] | None:
    """The summary's counts keyed as the SDK keys them; None for an op it does not know."""
    if changes is None:
        return None
    try:
        return {OpType(op): count for op, count in changes.items()}
    except ValueError:
        return None


def _has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return _SECRET_SIGNATURE in value or any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False
