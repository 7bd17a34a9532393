"""Crash recovery: stale locks of dead processes, and pending operations in the state.

A ``file://`` backend keeps a lock per running update at
``<root>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json`` (``pid``,
``hostname``, ``timestamp``) and the state at ``<root>/.pulumi/stacks/<project>/<stack>.json``
(gzipped as ``.json.gz`` when ``PULUMI_DIY_BACKEND_GZIP`` is set). Both are read here
directly: a check before every operation costs a few file reads, not a CLI start.
Other backends keep their locks server-side (``pulumi cancel`` is theirs); their
pending operations are found through ``pulumi stack export``.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from shipyard.engine import _procfs
from shipyard.engine.names import StackRef

__all__ = [
    "LockFile",
    "PendingOperation",
    "file_backend_root",
    "find_locks",
    "is_stale",
    "pending_in_deployment",
    "read_pending",
    "without_pending",
]

_CLOCK_SLACK_S = 2.0


@dataclass(frozen=True, slots=True)
class LockFile:
    path: Path
    pid: int
    hostname: str
    username: str
    timestamp: datetime | None

    def describe(self) -> str:
        when = self.timestamp.isoformat() if self.timestamp else "an unknown time"
        return f"{self.username}@{self.hostname} (pid {self.pid}) since {when}"


@dataclass(frozen=True, slots=True)
class PendingOperation:
    kind: str
    urn: str
    type: str

    def describe(self) -> str:
        return f"{self.kind} {self.urn}"


def file_backend_root(backend_url: str) -> Path | None:
    """The directory of a ``file://`` backend, or None for any other backend."""
    parsed = urlparse(backend_url)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.netloc + parsed.path)).expanduser()


def find_locks(root: Path, ref: StackRef) -> list[LockFile]:
    directory = root / ".pulumi" / "locks" / "organization" / ref.project / ref.stack
    locks = []
    for path in sorted(directory.glob("*.json")):
        lock = _read_lock(path)
        if lock is not None:
            locks.append(lock)
    return locks


def _read_lock(path: Path) -> LockFile | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # gone meanwhile, or half-written by a live process
    return LockFile(
        path=path,
        pid=int(data.get("pid", 0)),
        hostname=str(data.get("hostname", "")),
        username=str(data.get("username", "")),
        timestamp=_parse_time(data.get("timestamp")),
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_stale(lock: LockFile, hostname: str | None = None) -> bool:
    """True only for a lock of this host whose process is gone (or whose pid was reused).

    A lock of another host is never stale here: its process cannot be checked.
    """
    if lock.hostname != (hostname or socket.gethostname()) or lock.pid <= 0:
        return False
    started = _procfs.started_at(lock.pid)
    if started is None:
        return True
    if lock.timestamp is None:
        return False
    return started > lock.timestamp.timestamp() + _CLOCK_SLACK_S


def state_exists(root: Path, ref: StackRef) -> bool:
    """The ``file://`` backend holds a state for the stack (it was created)."""
    base = root / ".pulumi" / "stacks" / ref.project / ref.stack
    return Path(f"{base}.json").is_file() or Path(f"{base}.json.gz").is_file()


def read_pending(root: Path, ref: StackRef) -> list[PendingOperation]:
    """Pending operations recorded in a ``file://`` backend's state for the stack."""
    base = root / ".pulumi" / "stacks" / ref.project / ref.stack
    candidates = ((Path(f"{base}.json"), _read_plain), (Path(f"{base}.json.gz"), _read_gzip))
    for path, opener in candidates:
        if path.is_file():
            checkpoint = json.loads(opener(path))
            latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
            return pending_in_deployment(latest)
    return []


def _read_plain(path: Path) -> bytes:
    return path.read_bytes()


def _read_gzip(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def pending_in_deployment(deployment: Mapping[str, Any]) -> list[PendingOperation]:
    pending: Sequence[Mapping[str, Any]] = deployment.get("pending_operations") or ()
    found = []
    for operation in pending:
        resource = operation.get("resource") or {}
        found.append(
            PendingOperation(
                kind=str(operation.get("type", "unknown")),
                urn=str(resource.get("urn", "?")),
                type=str(resource.get("type", "?")),
            )
        )
    return found


def without_pending(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a deployment with its pending operations dropped."""
    return {k: v for k, v in deployment.items() if k != "pending_operations"}
