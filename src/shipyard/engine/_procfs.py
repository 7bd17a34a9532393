"""Process facts from ``/proc`` (Linux): liveness, start times, descendants."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessId", "alive", "descendants", "identify", "kill_group", "started_at"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A pid plus its start time, so a reused pid is never mistaken for the original."""

    pid: int
    start_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def _identity(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start ticks, state) of a process, or None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[1]), int(fields[19]), fields[0]


def alive(process: ProcessId) -> bool:
    identity = _identity(process.pid)
    return identity is not None and identity[1] == process.start_ticks and identity[2] != "Z"


def started_at(pid: int) -> float | None:
    """Unix time a live process started, or None when no such (non-zombie) process exists."""
    identity = _identity(pid)
    if identity is None or identity[2] == "Z":
        return None
    boot = _boot_time()
    return boot + identity[1] / os.sysconf("SC_CLK_TCK") if boot is not None else None


def _boot_time() -> float | None:
    with contextlib.suppress(OSError):
        for line in (_PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    return None


def descendants(root: int) -> list[ProcessId]:
    """Every live process below ``root`` (children, their children...)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        identity = _identity(int(entry.name))
        if identity is not None:
            children.setdefault(identity[0], []).append((int(entry.name), identity[1]))
    found: list[ProcessId] = []
    frontier = [root]
    while frontier:
        for pid, ticks in children.get(frontier.pop(), []):
            found.append(ProcessId(pid, ticks))
            frontier.append(pid)
    return found


def identify(pid: int) -> ProcessId | None:
    identity = _identity(pid)
    return ProcessId(pid, identity[1]) if identity is not None else None


def kill_group(process: ProcessId) -> None:
    """SIGKILL the process group led by ``process`` (or the process alone), never our own."""
    if not alive(process):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        group = os.getpgid(process.pid)
        if group == process.pid and group != os.getpgid(0):
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
