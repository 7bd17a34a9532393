"""The local target's view of :mod:`shipyard._process`: the same runner, raising the
local target's own errors (so ``except LocalTargetError`` sees a missing tool)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipyard import _process
from shipyard._process import Completed, OnLine
from shipyard.targets.local.errors import CommandTimeoutError, ToolMissingError

__all__ = ["Completed", "OnLine", "run_command", "spawn"]


def run_command(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    on_line: OnLine | None = None,
) -> Completed:
    """:func:`shipyard._process.run_command`, its errors as the local target's."""
    try:
        return _process.run_command(args, cwd=cwd, env=env, timeout=timeout, on_line=on_line)
    except _process.CommandTimeoutError as exc:
        raise CommandTimeoutError(str(exc)) from exc
    except _process.ToolMissingError as exc:
        raise ToolMissingError(str(exc)) from exc


def spawn(
    args: Sequence[str], *, log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """:func:`shipyard._process.spawn`, its error as the local target's."""
    try:
        return _process.spawn(args, log_file=log_file, env=env)
    except _process.ToolMissingError as exc:
        raise ToolMissingError(str(exc)) from exc
