"""The one runner for Shipyard's subprocesses (git, docker/podman, caddy).

Argument lists only, never a shell. Output is decoded leniently; with ``on_line`` it is
streamed line by line (stderr merged into stdout), otherwise captured.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError

__all__ = [
    "CommandTimeoutError",
    "Completed",
    "OnLine",
    "ToolMissingError",
    "run_command",
    "spawn",
]

OnLine = Callable[[str], None]


class ToolMissingError(ShipyardError):
    """A program Shipyard runs (git, podman, caddy...) is not installed."""


class CommandTimeoutError(ShipyardError):
    """A command did not finish before its deadline and was killed."""


_ENV = {"LC_ALL": "C.UTF-8", "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: stdout holds stderr too when it was streamed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout, self.stderr) if part)


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {**os.environ, **_ENV, **(extra or {})}


def run_command(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    on_line: OnLine | None = None,
) -> Completed:
    """Run ``args`` and return how it ended; raises :class:`ToolMissingError` if the
    program does not exist. A non-zero exit is returned, not raised: callers map it."""
    try:
        if on_line is None:
            return _captured(args, cwd, _environment(env), timeout)
        return _streamed(args, cwd, _environment(env), timeout, on_line)
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeoutError(
            f"`{' '.join(args[:3])}...` did not finish within {timeout} s and was killed: "
            "check the tool is not stuck (e.g. waiting for a network or a lock)"
        ) from exc
    except FileNotFoundError as exc:
        raise ToolMissingError(
            f"`{args[0]}` was not found (running {' '.join(args[:3])}...): install it or put "
            "it on PATH"
        ) from exc


def _captured(
    args: Sequence[str], cwd: Path | None, env: dict[str, str], timeout: float | None
) -> Completed:
    proc = subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        timeout=timeout,
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Completed(tuple(args), proc.returncode, _decode(proc.stdout), _decode(proc.stderr))


def _streamed(
    args: Sequence[str],
    cwd: Path | None,
    env: dict[str, str],
    timeout: float | None,
    on_line: OnLine,
) -> Completed:
    lines: list[str] = []
    with subprocess.Popen(
        list(args),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        timer = threading.Timer(timeout, proc.kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = _decode(raw).rstrip("\r\n")
                lines.append(line)
                on_line(line)
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            raise
        finally:
            if timer is not None:
                timer.cancel()
    return Completed(tuple(args), returncode, "\n".join(lines), "")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def spawn(
    args: Sequence[str], *, log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a long-running program (the proxy) with its output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_file.open("ab") as log:
            return subprocess.Popen(
                list(args),
                env=_environment(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except FileNotFoundError as exc:
        raise ToolMissingError(f"`{args[0]}` was not found: install it or put it on PATH") from exc
