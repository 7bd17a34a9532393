"""Reading locks and pending operations of a ``file://`` backend, and staleness."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.engine import StackRef
from shipyard.engine._recovery import (
    LockFile,
    file_backend_root,
    find_locks,
    is_stale,
    read_pending,
    without_pending,
)

REF = StackRef("orders", "dev.eu")
HOST = socket.gethostname()


def lock(pid: int, hostname: str = HOST, age_s: float = 0.0) -> LockFile:
    stamp = datetime.now(UTC) - timedelta(seconds=age_s)
    return LockFile(Path("/x.json"), pid, hostname, "ann", stamp)


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_file_backend_roots() -> None:
    assert file_backend_root("file:///var/lib/state") == Path("/var/lib/state")
    assert file_backend_root("file://~/state") == Path("~/state").expanduser()
    assert file_backend_root("gs://bucket/state") is None


def test_a_lock_of_a_live_process_is_not_stale() -> None:
    assert not is_stale(lock(os.getpid(), age_s=0.0))


def test_a_lock_of_a_gone_process_is_stale() -> None:
    assert is_stale(lock(dead_pid()))


def test_a_lock_older_than_the_process_holding_its_pid_is_stale() -> None:
    assert is_stale(lock(os.getpid(), age_s=10 * 365 * 86400.0))


def test_a_lock_of_another_host_is_never_stale() -> None:
    assert not is_stale(lock(dead_pid(), hostname="elsewhere"))


def test_find_locks_reads_pulumis_lock_files(tmp_path: Path) -> None:
    directory = tmp_path / ".pulumi" / "locks" / "organization" / "orders" / "dev.eu"
    directory.mkdir(parents=True)
    (directory / "a.json").write_text(
        json.dumps(
            {"pid": 12, "username": "ann", "hostname": "h", "timestamp": "2026-11-26T18:16:27Z"}
        )
    )
    (directory / "torn.json").write_text("{")

    [found] = find_locks(tmp_path, REF)

    assert (found.pid, found.hostname, found.username) == (12, "h", "ann")
    assert found.timestamp == datetime(2026, 11, 26, 18, 16, 27, tzinfo=UTC)
    assert "ann@h (pid 12)" in found.describe()


def _checkpoint(pending: list[dict[str, object]]) -> bytes:
    latest = {"resources": [], "pending_operations": pending}
    return json.dumps({"version": 3, "checkpoint": {"latest": latest}}).encode()


PENDING = [{"type": "creating", "resource": {"urn": "urn:a", "type": "t:a"}}]


def test_read_pending_from_plain_and_gzipped_state(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "orders"
    stacks.mkdir(parents=True)
    assert read_pending(tmp_path, REF) == []
    (stacks / "dev.eu.json").write_bytes(_checkpoint(PENDING))
    [found] = read_pending(tmp_path, REF)
    assert (found.kind, found.urn, found.type) == ("creating", "urn:a", "t:a")

    (stacks / "dev.eu.json").unlink()
    (stacks / "dev.eu.json.gz").write_bytes(gzip.compress(_checkpoint(PENDING * 2)))
    assert len(read_pending(tmp_path, REF)) == 2


def test_without_pending_drops_only_the_pending_operations() -> None:
    deployment = {"resources": [{"urn": "u"}], "pending_operations": PENDING}
    assert without_pending(deployment) == {"resources": [{"urn": "u"}]}
