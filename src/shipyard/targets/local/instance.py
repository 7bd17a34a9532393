"""This Shipyard's identity on the machine: an id kept in ``<data_dir>/instance-id``.

Every container, image and proxy route the local target makes carries it (the label
``shipyard.dev/instance`` and its name), and every lookup and sweep filters by it, so two
Shipyards with two data dirs on one container engine (or the test suite beside a user's
Shipyard) never see, adopt or remove each other's things.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from pathlib import Path

from shipyard.targets.local.errors import LocalTargetError

__all__ = ["INSTANCE_FILE", "InstanceIdError", "instance_id"]

INSTANCE_FILE = "instance-id"
"""The file under the data dir holding the id (10 hex characters, made once)."""
_VALID = re.compile(r"^[a-z0-9]{4,16}$")


class InstanceIdError(LocalTargetError):
    """``<data_dir>/instance-id`` holds something that is not an instance id."""


def instance_id(data_dir: Path) -> str:
    """The id of the Shipyard whose data dir is ``data_dir``; made on first use.

    Made race-free: the new id is written to a temporary file that is then hard-linked to
    its final name, which fails when another process got there first (whose id is then
    read). A reader therefore never sees a half-written file.
    """
    path = data_dir.expanduser() / INSTANCE_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{INSTANCE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(5) + "\n")
            file.flush()
            os.fsync(file.fileno())
        Path(tmp).chmod(0o644)  # the id is no secret; mkstemp makes 0600
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not _VALID.match(text):
        raise InstanceIdError(
            f"{path} holds {text[:40]!r}, not an instance id (4-16 lowercase letters and "
            "digits): restore the id it held, or delete the file to get a new one (this "
            "Shipyard then no longer finds the containers and images it made before)"
        )
    return text
