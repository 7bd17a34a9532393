"""The issue's failure, end to end: a worker host dies mid-``up`` (its whole process tree
SIGKILLed) with the store, the queue and the Pulumi state in one PostgreSQL, its lock
now "of another host"; the interrupted deploy fails with the reason once its lease
expired, and the stack's next deploy, on another worker, takes the stack over and
succeeds."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from shipyard.engine import _procfs
from shipyard.engine.toolchain import PulumiCli
from shipyard.jobs import JobKind, enqueue, get_job
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.events import list_events

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
SHIPYARD = Path(sys.executable).with_name("shipyard")
LEASE = 3.0
LOCKS = "%/.pulumi/locks/organization/%"


@pytest.fixture
def database(shared_url: str) -> Iterator[Engine]:
    database = open_database(shared_url)
    upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


def _locks(database: Engine) -> dict[str, dict[str, object]]:
    with database.connect() as connection:
        if connection.scalar(sa.text("SELECT to_regclass('pulumi_state')")) is None:
            return {}
        rows = connection.execute(
            sa.text("SELECT key, data FROM pulumi_state WHERE key LIKE :locks"), {"locks": LOCKS}
        )
        return {row.key: json.loads(base64.b64decode(row.data["data"])) for row in rows}


def _as_written_by(database: Engine, hostname: str) -> None:
    with database.begin() as connection:
        for key, lock in _locks(database).items():
            lock["hostname"] = hostname
            blob = base64.b64encode(json.dumps(lock).encode()).decode()
            connection.execute(
                sa.text("UPDATE pulumi_state SET data = :data WHERE key = :key"),
                {"data": json.dumps({"data": blob}), "key": key},
            )


class _Host:
    """Worker hosts: each a ``shipyard worker`` process of its own with the environment a
    host is given (the shared database, ``SHIPYARD_SECRETS_PROVIDER=passphrase`` and the
    shared passphrase), whatever this test process's job fork server inherited from
    the tests that started it before this one."""

    def __init__(self, shared_url: str, passphrase: str, pulumi_cli: PulumiCli) -> None:
        self._env = {
            **os.environ,
            "SHIPYARD_DATABASE_URL": shared_url,
            "SHIPYARD_SECRETS_PROVIDER": "passphrase",
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "SHIPYARD_PULUMI": str(pulumi_cli.path),
        }

    def start_worker(
        self, data_dir: Path, lease: float, poll_interval: float
    ) -> subprocess.Popen[bytes]:
        data_dir.mkdir()
        with (data_dir.parent / f"{data_dir.name}.log").open("wb") as log:
            return subprocess.Popen(
                [
                    str(SHIPYARD),
                    "worker",
                    "--workers",
                    "1",
                    "--handler",
                    "deploy=shipyard.jobs.testing:engine_up",
                    "--lease-seconds",
                    str(lease),
                    "--poll-interval",
                    str(poll_interval),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self._env, "SHIPYARD_DATA_DIR": str(data_dir)},
                start_new_session=True,
            )


def _kill_tree(root: int) -> None:
    """SIGKILL ``root`` and every process below it, process groups included (Pulumi runs
    its CLI and plugins in groups of their own), as when the host is lost."""
    family = _procfs.descendants(root)
    with contextlib.suppress(ProcessLookupError):
        os.kill(root, signal.SIGKILL)
    for process in family:
        _procfs.kill_group(process)


def test_the_next_worker_takes_over_a_stack_whose_host_died_mid_up(
    database: Engine,
    shared_url: str,
    shared_passphrase: str,
    pulumi_cli: PulumiCli,
    tmp_path: Path,
    wait_for: WaitFor,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    payload = {
        "path": str(work / "out.txt"),
        "content": "v1",
        "gate": str(work / "gate"),
        "started": str(work / "started"),
    }
    with transaction(database) as session:
        job_id = enqueue(session, JobKind.deploy, "default/web/prod", payload).id
    host = _Host(shared_url, shared_passphrase, pulumi_cli)
    host_a = host.start_worker(tmp_path / "host-a", LEASE, 0.05)
    try:
        wait_for((work / "started").exists, "host A's up to start its create", timeout=180)
        assert _locks(database), "a running up holds a lock row"
        _kill_tree(host_a.pid)
        host_a.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            host_a.kill()
        host_a.wait(timeout=30)
    [lock] = _locks(database).values()
    _as_written_by(database, "worker-3.dead")

    with transaction(database) as session:
        again = {"path": payload["path"], "content": "v2"}
        next_id = enqueue(session, JobKind.deploy, "default/web/prod", again).id
    (work / "gate").touch()
    host_b = host.start_worker(tmp_path / "host-b", 30.0, 0.1)
    host_b_id = f"{socket.gethostname()}:{host_b.pid}:0"  # its only worker thread's
    try:
        wait_for(lambda: _finished(database, next_id), "host B to run the next job", timeout=180)
    finally:
        host_b.send_signal(signal.SIGTERM)
        try:
            host_b.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                host_b.kill()
            host_b.wait(timeout=30)

    with transaction(database, read_only=True) as session:
        dead = get_job(session, job_id)
        job = get_job(session, next_id)
        events = list(list_events(session, next_id))
    assert dead.state.value == "failed"
    assert dead.error is not None and dead.error.startswith(
        f"interrupted: worker {dead.worker_id} stopped renewing its lease at "
    )
    assert dead.worker_id is not None and dead.worker_id != host_b_id
    assert job.state.value == "succeeded", job.error
    assert (job.worker_id, job.attempts) == (host_b_id, 1)
    takeover = [
        e.message for e in events if e.kind == "recovery" and "(pulumi cancel)" in e.message
    ]
    assert len(takeover) == 1, [e.message for e in events]
    assert f"@worker-3.dead (pid {lock['pid']})" in takeover[0]
    engine_recovery = [e.message for e in events if e.kind == "engine.recovery"]
    assert any("pending operation" in m for m in engine_recovery), engine_recovery
    assert (work / "out.txt").read_text() == "v2"
    assert _locks(database) == {}


def _finished(database: Engine, job_id: int) -> bool:
    with transaction(database, read_only=True) as session:
        return get_job(session, job_id).state.finished
