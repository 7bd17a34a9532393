"""The worker's side of a job's child process: start, signal, kill (with its family), reap.

Children come from a fork server that has already imported the child's modules
(SQLAlchemy, the store, logging) and the workers' handler modules (the targets, the
Pulumi SDK): a job starts in milliseconds, not the second and more a fresh interpreter
takes, and the server forks from a clean single-threaded process, never from the
multi-threaded worker. (multiprocessing also imports the parent's main script in every
child: ``shipyard.__main__`` is kept light for that.)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable
from multiprocessing import connection, forkserver
from pathlib import Path
from typing import Any

from shipyard.engine import _procfs
from shipyard.jobs import _child
from shipyard.jobs._protocol import ChildSetup, ChildSpec, Outcome, read_outcome

__all__ = ["JobProcess", "describe_exit", "start_fork_server"]

_UNUSED_EXIT_S = 5.0
"""How long a child that never got a job may take to exit once let go."""


def _context() -> multiprocessing.context.ForkServerContext:
    return multiprocessing.get_context("forkserver")


def start_fork_server(handler_modules: Iterable[str] = ()) -> None:
    """Start the fork server and wait until it serves (it imports the child's modules and
    ``handler_modules``: a second or more), so that no job spends its lease on imports.

    The modules are read once, when the server starts: a process's first workers decide.
    """
    context = _context()
    context.set_forkserver_preload([_child.__name__, *sorted(set(handler_modules))])
    forkserver.ensure_running()
    probe = context.Process(target=_child.ready, name="shipyard-fork-server-probe")
    probe.start()
    probe.join()
    probe.close()


class JobProcess:
    """One job's child (:func:`shipyard.jobs._child.serve`), in a session of its own, so
    a Ctrl-C meant for the worker never reaches it: the worker decides when it stops.

    It starts before its job is known and gets ready (its setup: a few milliseconds that
    are then off the job's path); :meth:`begin` hands it the job. A worker keeps the next
    one ready while a job runs and ends."""

    def __init__(self, setup: ChildSetup) -> None:
        context = _context()
        jobs_reader, self._jobs = context.Pipe(duplex=False)
        reader, self._lifeline = context.Pipe(duplex=False)
        self._commits, commits_writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child.serve,
            args=(setup, jobs_reader, reader, commits_writer),
            name="shipyard-job",
        )
        self._process.start()
        jobs_reader.close()
        reader.close()
        commits_writer.close()
        self._watching_commits = True
        self._exitcode: int | None = None
        self._outcome_path: Path | None = None
        assert self._process.pid is not None
        self._pid: int = self._process.pid

    def begin(self, spec: ChildSpec) -> bool:
        """Hand it its job; False when it cannot take one (it died while it waited: the
        caller closes it and starts another)."""
        if self._outcome_path is not None:
            raise RuntimeError(f"job process {self._pid} has a job already")
        if self._process.exitcode is not None:
            return False
        try:
            self._jobs.send(spec)
        except OSError:  # BrokenPipeError: it is gone
            return False
        finally:
            self._jobs.close()
        self._outcome_path = Path(spec.outcome_path)
        return True

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        """Still running (or still waiting for its job)."""
        return self._process.exitcode is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it exited (negative: the signal that ended it)."""
        return self._exitcode

    def wait(self, timeout: float, on_commit: Callable[[], None] | None = None) -> int | None:
        """The exit code once it exited, None while it runs; ``on_commit`` is called each
        time the child reports that it committed (a byte on a pipe of its own)."""
        deadline = time.monotonic() + timeout
        while self._process.exitcode is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            watched: list[Any] = [self._process.sentinel]
            if self._watching_commits:
                watched.append(self._commits)
            ready = connection.wait(watched, left)
            if self._commits in ready and self._drain_commits() and on_commit is not None:
                on_commit()
            if self._process.sentinel in ready:
                self._process.join()
        self._exitcode = self._process.exitcode
        return self._exitcode

    def _drain_commits(self) -> bool:
        """Read what the child wrote; False (and stop watching) at its end."""
        try:
            reported = os.read(self._commits.fileno(), 4096)
        except OSError:
            reported = b""
        if not reported:
            self._watching_commits = False
        return bool(reported)

    def interrupt(self) -> None:
        """Ask it to cancel (SIGTERM: it trips the job's CancelToken)."""
        if self._process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> list[int]:
        """SIGKILL it and every process below it (the Pulumi CLI and its providers run in
        sessions of their own); returns the pids killed besides the child."""
        family = _procfs.descendants(self.pid)
        if self._process.exitcode is None:
            self._process.kill()
        for process in family:
            _procfs.kill_group(process)
        return [process.pid for process in family]

    def outcome(self) -> Outcome | None:
        """What the child reported; None if it died without reporting."""
        return read_outcome(self._outcome_path) if self._outcome_path is not None else None

    def close(self) -> None:
        """Kill it if still running, reap it, and cut its lifeline. One that never got a
        job is let go first: without a job to wait for, it ends at once."""
        if not self._jobs.closed:
            self._jobs.close()
            self._process.join(_UNUSED_EXIT_S)
        if self._process.exitcode is None:
            self.kill()
        self._process.join()
        self._exitcode = self._process.exitcode
        self._process.close()
        self._lifeline.close()
        self._commits.close()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
