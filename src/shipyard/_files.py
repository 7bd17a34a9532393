"""Files Shipyard writes: atomically, with their final mode from the first byte, and the
private folders (0700) they live in. The one place that does it for every layer."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ensure_private_dir",
    "locked",
    "read_json",
    "write_atomic",
    "write_json",
]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

_log = structlog.get_logger(__name__)


def write_atomic(
    path: Path, data: bytes | str, *, mode: int = PRIVATE_FILE_MODE, exclusive: bool = False
) -> bool:
    """Replace ``path`` with ``data`` in one step: a reader sees the old content or the
    new, never half, and never a mode wider than ``mode`` (set before the first byte).

    A temporary file in the same folder is written, flushed to disk (``fsync``) and
    renamed over ``path``. With ``exclusive``, an existing ``path`` is left alone and False
    is returned (concurrent first writers agree on one content).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    staging = Path(name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            try:
                os.link(staging, path)
            except FileExistsError:
                return False
        else:
            staging.replace(path)
        _fsync_dir(path.parent)
        return True
    finally:
        staging.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ensure_private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (0700): created so, or tightened (with
    a warning) if it exists with group or other permissions. Parents are left as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR_MODE)
    current = path.stat().st_mode & 0o777
    if current & ~PRIVATE_DIR_MODE:
        path.chmod(current & PRIVATE_DIR_MODE)
        _log.warning("tightened a folder's mode", path=str(path), was=oct(current))
    return path


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file; ``{}`` when it does not exist or holds something else."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any], *, mode: int = PRIVATE_FILE_MODE) -> None:
    """``data`` as indented, key-sorted JSON, written with :func:`write_atomic`."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True), mode=mode)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (between processes) for an update."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
