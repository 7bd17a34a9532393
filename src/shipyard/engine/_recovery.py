"""Crash recovery: stale locks of dead processes, and pending operations in the state.

A ``file://`` backend keeps a lock per running update at
``<root>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json`` (``pid``,
``hostname``, ``timestamp``) and the state at ``<root>/.pulumi/stacks/<project>/<stack>.json``
(gzipped as ``.json.gz`` when ``PULUMI_DIY_BACKEND_GZIP`` is set). Both are read here
directly: a check before every operation costs a few file reads, not a CLI start.
Other backends keep their locks server-side (``pulumi cancel`` is theirs); their
pending operations are found through ``pulumi stack export``.

A lock's pid and hostname are only a same-host check (:func:`is_stale`). Across hosts
the job queue decides: the worker that claims a stack after its previous job's lease
expired takes the stack over (:func:`take_over_locks`): it removes every lock of the
stack, whichever host wrote it, the files of a ``file://`` backend directly, through
``pulumi cancel`` on any other backend. The queue runs one job per stack, so no live job
of Shipyard's holds such a lock.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from shipyard.engine import _procfs
from shipyard.engine._environment import base_environment, pulumi_variables
from shipyard.engine.names import StackRef
from shipyard.engine.toolchain import PulumiCli
from shipyard.settings import Settings

__all__ = [
    "LockFile",
    "LockTakeover",
    "PendingOperation",
    "file_backend_root",
    "find_locks",
    "is_stale",
    "lock_from_blob",
    "pending_in_deployment",
    "read_pending",
    "take_over_locks",
    "without_pending",
]

_CLOCK_SLACK_S = 2.0
_CANCEL_TIMEOUT_S = 120.0
_NO_STACK = "no stack named"


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
        pid=_as_int(data.get("pid", 0)),
        hostname=str(data.get("hostname", "")),
        username=str(data.get("username", "")),
        timestamp=_parse_time(data.get("timestamp")),
    )


def lock_from_blob(key: str, data: Mapping[str, Any]) -> LockFile | None:
    """A lock as the ``postgres://`` backend stores it: a row whose ``data`` is
    ``{"data": <base64 of the lock's JSON>}``; None if unreadable."""
    try:
        content = json.loads(base64.b64decode(str(data["data"])))
    except (KeyError, ValueError, TypeError):
        return None
    if not isinstance(content, dict):
        return None
    return LockFile(
        path=Path(key),
        pid=_as_int(content.get("pid")),
        hostname=str(content.get("hostname", "")),
        username=str(content.get("username", "")),
        timestamp=_parse_time(content.get("timestamp")),
    )


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


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


@dataclass(frozen=True, slots=True)
class LockTakeover:
    """What :func:`take_over_locks` did."""

    method: str
    """``lock files`` (``file://``) or ``pulumi cancel``."""
    removed: tuple[str, ...]
    """The removed locks as their writers described them (``pulumi cancel`` does not say
    what it removed: the caller may fill them in from what it read before)."""
    error: str | None = None
    """Why the locks could not be removed (the operation then meets them as
    ``StackLockedError``, a transient failure)."""

    def describe(self) -> str:
        if self.error is not None:
            return (
                f"could not remove the locks of the interrupted job ({self.method}): {self.error}"
            )
        if self.removed:
            listed = "; ".join(self.removed)
            return f"removed the lock of the interrupted job ({self.method}): {listed}"
        if self.method == "pulumi cancel":
            return "removed any lock the interrupted job left (pulumi cancel)"
        return "no lock was left by the interrupted job"


def take_over_locks(settings: Settings, cli: PulumiCli, ref: StackRef) -> LockTakeover:
    """Remove every lock of ``ref``, whichever host or process wrote it.

    Only for the job that took the stack over from one whose lease expired (the queue
    guarantees no other job of the stack runs): a lock held by a live process is never
    broken by the engine's own recovery, which runs before every operation.
    """
    root = file_backend_root(settings.state_backend_url)
    if root is not None:
        removed = []
        for lock in find_locks(root, ref):
            lock.path.unlink(missing_ok=True)
            removed.append(lock.describe())
        return LockTakeover("lock files", tuple(removed))
    return _pulumi_cancel(settings, cli, ref)


def _pulumi_cancel(settings: Settings, cli: PulumiCli, ref: StackRef) -> LockTakeover:
    backend = settings.state_backend_url
    with tempfile.TemporaryDirectory(prefix="shipyard-cancel-") as tmp:
        home = Path(tmp) / "pulumi-home"
        home.mkdir()
        env = {
            **base_environment(backend, settings.secrets_provider),
            **pulumi_variables(
                pulumi_home=home,
                backend_url=backend,
                path_dirs=(cli.bin_dir,),
                passphrase_file=None,
            ),
        }
        command = [
            str(cli.path),
            "cancel",
            "--yes",
            "--non-interactive",
            "--stack",
            f"organization/{ref.project}/{ref.stack}",
        ]
        try:
            done = subprocess.run(
                command,
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=_CANCEL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return LockTakeover("pulumi cancel", (), str(exc))
    if done.returncode == 0 or _NO_STACK in done.stderr:
        return LockTakeover("pulumi cancel", ())
    return LockTakeover(
        "pulumi cancel", (), done.stderr.strip()[-500:] or f"exit {done.returncode}"
    )
