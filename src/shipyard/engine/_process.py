"""The one runner of the Pulumi CLI: explicit environment, tracked processes, cancel.

:class:`TrackedPulumiCommand` replaces ``PulumiCommand.run`` for the workspaces the
engine builds. It starts the CLI in a session of its own (so a signal reaches the CLI
and its group, never Shipyard), with only the environment the engine chose (see
:mod:`shipyard.engine._environment`), and reports each process to the current
:class:`OperationControl`, which is how a cancel finds the CLI's pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from shipyard.engine import _procfs
from shipyard.engine._procfs import ProcessId

__all__ = ["OperationControl", "TrackedPulumiCommand"]

Note = Callable[[str], None]
_CANCELLED_BEFORE_START = 130


class OperationControl:
    """The CLI processes of one operation, and how to stop them.

    ``cancel()`` escalates in a thread of its own: SIGINT (Pulumi finishes in-flight
    steps and releases the lock), after ``grace_s`` a second SIGINT (Pulumi stops its
    providers; a pending create may stay in the state), after ``second_grace_s`` SIGKILL
    of the CLI's process group; then any provider process the CLI started and left
    behind is killed. No new CLI process starts once a cancel was requested.
    """

    def __init__(
        self,
        note: Note,
        grace_s: float,
        second_grace_s: float,
    ) -> None:
        self._note = note
        self._grace_s = grace_s
        self._second_grace_s = second_grace_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._exited = threading.Event()
        self._family: set[ProcessId] = set()
        self._escalation: str | None = None
        self._done = threading.Event()
        self._done.set()

    @property
    def escalation(self) -> str | None:
        """None unless cancelled; else the strongest step taken (``SIGINT``...)."""
        return self._escalation

    @property
    def cancel_requested(self) -> bool:
        return self._escalation is not None

    def started(self, process: subprocess.Popen[str]) -> bool:
        """Register a new CLI process; False (and it is killed) when cancelled already."""
        with self._lock:
            if self._escalation is not None:
                process.kill()
                return False
            self._process = process
            self._exited.clear()
        return True

    def exited(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            if self._process is process:
                self._process = None
                self._exited.set()

    def cancel(self) -> None:
        with self._lock:
            if self._escalation is not None:
                return
            self._escalation = "SIGINT"
            self._done.clear()
        threading.Thread(target=self._escalate, name="shipyard-cancel", daemon=True).start()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Wait until the escalation (if any) has finished its work."""
        return self._done.wait(timeout)

    def _escalate(self) -> None:
        try:
            self._signal(signal.SIGINT, "cancel: SIGINT to the Pulumi CLI", "SIGINT")
            if self._process is None or self._exited.wait(self._grace_s):
                return
            self._signal(signal.SIGINT, "cancel: a second SIGINT to the Pulumi CLI", "SIGINT x2")
            if self._process is None or self._exited.wait(self._second_grace_s):
                return
            self._kill_cli()
        finally:
            self._kill_leftovers()
            self._done.set()

    def _signal(self, signum: signal.Signals, message: str, escalation: str) -> None:
        with self._lock:
            process = self._process
            self._escalation = escalation
        if process is None:
            self._note(f"{message}: no CLI running, none will start")
            return
        self._remember_family(process.pid)
        self._note(f"{message} (pid {process.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)

    def _kill_cli(self) -> None:
        with self._lock:
            process = self._process
            self._escalation = "SIGKILL"
        if process is None:
            return
        self._remember_family(process.pid)
        self._note(f"cancel: SIGKILL to the Pulumi CLI's process group (pid {process.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        self._exited.wait(self._second_grace_s)

    def _remember_family(self, pid: int) -> None:
        self._family.update(_procfs.descendants(pid))

    def _kill_leftovers(self) -> None:
        leftovers = [p for p in self._family if _procfs.alive(p)]
        for process in leftovers:
            _procfs.kill_group(process)
        if leftovers:
            pids = ", ".join(str(p.pid) for p in leftovers)
            self._note(f"cancel: killed {len(leftovers)} provider process(es) left behind ({pids})")


class TrackedPulumiCommand(PulumiCommand):
    """``PulumiCommand`` whose ``run`` uses Shipyard's environment and process tracking.

    Built from a CLI whose version the toolchain already checked, so making one per stack
    costs nothing.
    """

    def __init__(self, command: str, version: VersionInfo, base_env: Mapping[str, str]) -> None:
        # Deliberately not calling super().__init__: it would run `pulumi version` again.
        self.command = command
        self.version = version
        self._base_env = dict(base_env)
        self.control: OperationControl | None = None

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Callable[[str], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
    ) -> CommandResult:
        head = args[: args.index("--")] if "--" in args else args
        if "--non-interactive" not in head:
            args.insert(0, "--non-interactive")
        env = {**self._base_env, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        control = self.control
        with subprocess.Popen(
            [self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            encoding="utf-8",
            start_new_session=True,
        ) as process:
            if control is not None and not control.started(process):
                process.wait()
                result = CommandResult("", "cancelled before start", _CANCELLED_BEFORE_START)
                raise create_command_error(result)
            try:
                stdout, stderr = _collect(process, on_output, on_error)
                code = process.wait()
            finally:
                if control is not None:
                    control.exited(process)
        result = CommandResult(stdout=stdout, stderr=stderr, code=code)
        if code != 0:
            raise create_command_error(result)
        return result


def _collect(
    process: subprocess.Popen[str],
    on_output: Callable[[str], Any] | None,
    on_error: Callable[[str], Any] | None,
) -> tuple[str, str]:
    assert process.stdout is not None and process.stderr is not None
    out: list[str] = []
    err: list[str] = []
    reader = threading.Thread(target=_pump, args=(process.stderr, on_error, err), daemon=True)
    reader.start()
    _pump(process.stdout, on_output, out)
    reader.join()
    return "\n".join(out), "\n".join(err)


def _pump(stream: IO[str], callback: Callable[[str], Any] | None, lines: list[str]) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip()
        if callback is not None:
            callback(line)
        lines.append(line)
    stream.close()
