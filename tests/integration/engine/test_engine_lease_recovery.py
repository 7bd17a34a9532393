"""Recovery by lease: the job that takes a stack over from a dead one removes its lock,
whichever host wrote it; the engine alone never breaks a lock of another host."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from shipyard.engine import (
    Engine,
    EngineEventRecord,
    EventKind,
    Program,
    StackLockedError,
    StackRef,
    _procfs,
    _recovery,
)
from shipyard.engine.testing import GatedFileResource
from shipyard.engine.toolchain import PulumiCli
from shipyard.settings import Settings
from shipyard.testing.fixtures import postgres_cluster
from shipyard.testing.postgres import PostgresCluster

__all__ = ["postgres_cluster"]  # the fixture, for this module

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
CRASH_CHILD = Path(__file__).with_name("crash_child.py")
PASSPHRASE = "shared by every host"
LOCKS = "%/.pulumi/locks/organization/%"  # keys start with the database's name


def gated_program(work: Path) -> Program:
    def program() -> None:
        GatedFileResource(
            "gated", str(work / "out.txt"), "done", str(work / "gate"), str(work / "started")
        )

    return program


@pytest.fixture
def shared_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with postgres_cluster.database() as url:
        yield url


def _host(root: Path, name: str, url: str) -> Settings:
    data_dir = root / name
    data_dir.mkdir(exist_ok=True)
    return Settings(
        data_dir=data_dir,
        database_url=url,
        backend_url=None,
        secrets_provider="passphrase",
        pulumi=None,
    )


def _lock_rows(url: str) -> dict[str, dict[str, object]]:
    """The stack locks in Pulumi's table: a row per lock, its JSON base64 in ``data``."""
    database = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with database.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT key, data FROM pulumi_state WHERE key LIKE :locks"),
                {"locks": LOCKS},
            )
            return {row.key: json.loads(base64.b64decode(row.data["data"])) for row in rows}
    finally:
        database.dispose()


def _pretend_another_host_wrote_the_locks(url: str) -> None:
    database = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with database.begin() as connection:
            for key, lock in _lock_rows(url).items():
                lock["hostname"] = "worker-3.dead"
                blob = base64.b64encode(json.dumps(lock).encode()).decode()
                connection.execute(
                    sa.text("UPDATE pulumi_state SET data = :data WHERE key = :key"),
                    {"data": json.dumps({"data": blob}), "key": key},
                )
    finally:
        database.dispose()


def test_a_stack_killed_mid_up_on_another_host_runs_again_once_taken_over(
    shared_url: str,
    tmp_path: Path,
    pulumi_cli: PulumiCli,
    wait_for: WaitFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    host_a, host_b = _host(tmp_path, "a", shared_url), _host(tmp_path, "b", shared_url)
    assert host_a.state_backend_url.startswith("postgres://")
    ref = StackRef.of("test/lease", "prod")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "SHIPYARD_DATABASE_URL": shared_url,
        "SHIPYARD_SECRETS_PROVIDER": "passphrase",
        "SHIPYARD_PULUMI": str(pulumi_cli.path),
    }
    child = subprocess.Popen(
        [sys.executable, str(CRASH_CHILD), str(host_a.data_dir), ref.project, ref.stack, str(work)],
        start_new_session=True,
        env=env,
    )
    family: list[_procfs.ProcessId] = []
    try:
        wait_for(
            lambda: (work / "started").exists() or child.poll() is not None,
            "the gated create to start",
            timeout=120,
        )
        assert child.poll() is None, "the child's up ended before the crash"
        # The whole process tree dies at once, as when a host is lost.
        family = _procfs.descendants(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        for process in family:
            _procfs.kill_group(process)
        child.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=30)
    [lock] = _lock_rows(shared_url).values()
    assert lock["pid"] and not _procfs.started_at(int(str(lock["pid"])))
    _pretend_another_host_wrote_the_locks(shared_url)

    engine_b = Engine(host_b, pulumi_cli)
    (work / "gate").touch()
    # The failure: the engine alone cannot tell the lock of another host is dead.
    with pytest.raises(StackLockedError) as caught:
        engine_b.up(ref, gated_program(work))
    assert "worker-3.dead" in str(caught.value)

    takeover = _recovery.take_over_locks(host_b, pulumi_cli, ref)

    assert takeover.error is None, takeover.error
    assert takeover.method == "pulumi cancel"
    assert _lock_rows(shared_url) == {}
    events: list[EngineEventRecord] = []
    result = engine_b.up(ref, gated_program(work), on_event=events.append)
    recovery = [e.message for e in events if e.kind is EventKind.RECOVERY]
    assert any("1 pending operation(s)" in m and "creating" in m for m in recovery), recovery
    assert (work / "out.txt").read_text() == "done"
    assert result.changes.get("create", 0) + result.changes.get("same", 0) >= 1
    assert not engine_b.up(ref, gated_program(work)).changed


def test_a_file_lock_of_another_host_is_removed_only_by_a_takeover(
    make_engine: Callable[..., Engine],
    stack_ref: StackRef,
    tmp_path: Path,
    data_dir: Path,
    pulumi_cli: PulumiCli,
) -> None:
    engine = make_engine()
    work = tmp_path / "work"
    work.mkdir()
    (work / "gate").touch()
    engine.up(stack_ref, gated_program(work))
    directory = data_dir / "state" / ".pulumi" / "locks" / "organization"
    lock = directory / stack_ref.project / stack_ref.stack / "0f0f0f0f-dead.json"
    lock.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat()
    lock.write_text(
        json.dumps({"pid": 4242, "username": "root", "hostname": "worker-3", "timestamp": stamp})
    )

    with pytest.raises(StackLockedError):
        engine.up(stack_ref, gated_program(work))  # another host's lock: never stale alone
    assert lock.exists()

    settings = Settings(data_dir=data_dir, backend_url=None, secrets_provider=None, pulumi=None)
    takeover = _recovery.take_over_locks(settings, pulumi_cli, stack_ref)

    assert takeover.method == "lock files"
    assert takeover.removed == (f"root@worker-3 (pid 4242) since {stamp}",)
    assert "worker-3" in takeover.describe()
    assert not lock.exists()
    assert not engine.up(stack_ref, gated_program(work)).changed
