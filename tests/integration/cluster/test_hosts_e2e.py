"""The multi-host proof, on this machine (``make e2e``; skipped elsewhere unless
``SHIPYARD_E2E_HOSTS=1``, root and ``ip netns`` are there).

Hosts are network namespaces joined by a bridge, each worker host also in UTS and PID
namespaces of its own (its own hostname; killing its PID 1 kills every process of it).
PostgreSQL runs in one, three ``shipyard worker`` hosts in others; every address is on a
/24 this test creates and removes. The store, the queue and the Pulumi state
(``postgres://``, the default) are that one PostgreSQL. Scaled to this 2-core machine:
(1) 12 deploys over 6 stacks: all succeed, each stack's jobs strictly serial, the last
request of each stack is what runs; (2) a worker host killed (SIGKILL of its PID
namespace) mid-``up``: the job runs again on another host and succeeds within the lease
plus the takeover; no lock stays; (3) a worker host cut off from the database (its link
down) mid-job for longer than its lease: it writes nothing after losing the lease,
another host finishes; (4) plain ``pulumi stack ls`` against the backend lists every
stack."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from shipyard.engine.toolchain import PulumiCli
from shipyard.jobs import JobKind, JobState, enqueue
from shipyard.settings import shared_state_url
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.events import list_events
from shipyard.store.models import Job
from shipyard.testing.postgres import find_bindir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("SHIPYARD_E2E_HOSTS") or os.geteuid() != 0 or not shutil.which("ip"),
        reason="the multi-host proof runs under `make e2e` (SHIPYARD_E2E_HOSTS=1), as root",
    ),
]

WaitFor = Callable[..., None]
SHIPYARD = Path(sys.executable).with_name("shipyard")
LEASE = 6.0
PASSPHRASE = "the cluster's passphrase"


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class _Net:
    """A bridge and namespaces with one address each on 10.231.<n>.0/24."""

    def __init__(self) -> None:
        self.tag = f"sy{uuid.uuid4().hex[:6]}"
        self.subnet = f"10.231.{int(self.tag[2:4], 16)}"
        self.bridge = f"{self.tag}br"
        self.spaces: list[str] = []
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def host(self, name: str, last: int) -> tuple[str, str]:
        space, outside, inside = f"{self.tag}-{name}", f"{self.tag}{name}o", f"{self.tag}{name}i"
        _run("ip", "netns", "add", space)
        self.spaces.append(space)
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("ip", "link", "set", inside, "netns", space)
        _run("ip", "link", "set", outside, "master", self.bridge)
        _run("ip", "link", "set", outside, "up")
        address = f"{self.subnet}.{last}"
        _run("ip", "netns", "exec", space, "ip", "addr", "add", f"{address}/24", "dev", inside)
        _run("ip", "netns", "exec", space, "ip", "link", "set", inside, "up")
        _run("ip", "netns", "exec", space, "ip", "link", "set", "lo", "up")
        return space, address

    def cut(self, name: str) -> None:
        _run("ip", "link", "set", f"{self.tag}{name}o", "down")

    def heal(self, name: str) -> None:
        _run("ip", "link", "set", f"{self.tag}{name}o", "up")

    def close(self) -> None:
        for space in self.spaces:
            with contextlib.suppress(RuntimeError):
                _run("ip", "netns", "del", space)
        with contextlib.suppress(RuntimeError):
            _run("ip", "link", "del", self.bridge)


@pytest.fixture
def net() -> Iterator[_Net]:
    net = _Net()
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def server(net: _Net) -> Iterator[str]:
    """PostgreSQL in a namespace of its own; yields the database's URL."""
    space, address = net.host("db", 2)
    bindir = find_bindir()
    base = Path(tempfile.mkdtemp(prefix="shipyard-e2e-pg-"))
    shutil.chown(base, user="postgres", group="postgres")
    data = base / "data"
    as_pg = ["runuser", "-u", "postgres", "--"]
    _run(*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust")
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {net.subnet}.0/24 trust\n")
    (data / "postgresql.auto.conf").write_text(
        f"listen_addresses = '{address}'\nport = 5432\nunix_socket_directories = ''\n"
        "max_connections = 200\nfsync = off\nsynchronous_commit = off\n"
    )
    shutil.chown(data / "postgresql.auto.conf", user="postgres", group="postgres")
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    _run("ip", "netns", "exec", space, *as_pg, *pg_ctl, "-l", str(base / "log"), "start")
    try:
        yield f"postgresql+psycopg://postgres@{address}:5432/postgres"
    finally:
        with contextlib.suppress(RuntimeError):
            _run("ip", "netns", "exec", space, *as_pg, *pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


class _Hosts:
    def __init__(self, net: _Net, url: str, root: Path, cli: PulumiCli) -> None:
        self.net, self.url, self.root, self.cli = net, url, root, cli
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, last: int) -> None:
        space, _ = self.net.host(name, last)
        data = self.root / name
        data.mkdir()
        command = (
            f"hostname {name} && exec {SHIPYARD} worker --handler "
            f"deploy=shipyard.jobs.testing:engine_up --lease-seconds {LEASE} "
            "--poll-interval 0.1"
        )
        env = {
            **os.environ,
            "SHIPYARD_DATA_DIR": str(data),
            "SHIPYARD_DATABASE_URL": self.url,
            "SHIPYARD_SECRETS_PROVIDER": "passphrase",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "SHIPYARD_PULUMI": str(self.cli.path),
            "SHIPYARD_LOG_FORMAT": "json",
        }
        log = (self.root / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [
                *("ip", "netns", "exec", space),
                *("unshare", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc"),
                *("sh", "-c", command),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL the host's PID 1 (the worker): the kernel kills all its processes."""
        inner = _run("pgrep", "-P", str(self.processes[name].pid)).split()
        for pid in inner:  # unshare's child: the namespace's init
            os.kill(int(pid), 9)
        self.processes[name].wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def _deploy(database: Engine, stack: str, out: Path, content: str, **extra: str) -> int:
    payload = {"path": str(out / f"{stack.replace('/', '_')}.txt"), "content": content, **extra}
    with transaction(database) as session:
        return enqueue(session, JobKind.deploy, stack, payload, max_attempts=3).id


def _jobs(database: Engine, ids: list[int]) -> list[Job]:
    with transaction(database, read_only=True) as session:
        return list(session.scalars(sa.select(Job).where(Job.id.in_(ids)).order_by(Job.id)))


def test_three_worker_hosts_share_one_postgresql(
    net: _Net, server: str, pulumi_cli: PulumiCli, tmp_path: Path, wait_for: WaitFor
) -> None:
    database = open_database(server)
    upgrade(database)
    hosts = _Hosts(net, server, tmp_path, pulumi_cli)
    out = tmp_path / "out"
    out.mkdir()
    try:
        for index, name in enumerate(("h1", "h2", "h3")):
            hosts.start(name, 11 + index)

        # (1) 12 deploys over 6 stacks, two each: serial per stack, the last one runs.
        stacks = [f"default/app-{i}/prod" for i in range(6)]
        ids = [_deploy(database, s, out, f"{s}-{n}") for n in (1, 2) for s in stacks]

        def all_ended() -> bool:
            return all(job.state.finished for job in _jobs(database, ids))

        wait_for(all_ended, "12 deploys to end", timeout=600)
        jobs = _jobs(database, ids)
        assert [j.state for j in jobs] == [JobState.succeeded] * 12, [j.error for j in jobs]
        for stack in stacks:
            first, second = (j for j in jobs if j.stack_key == stack)
            assert first.finished_at is not None and second.started_at is not None
            assert first.finished_at <= second.started_at
            assert (out / f"{stack.replace('/', '_')}.txt").read_text() == f"{stack}-2"
        assert len({j.worker_id.split(":")[0] for j in jobs if j.worker_id}) >= 2

        # (2) a host dies mid-up (a new stack: the gate holds a create, not an update).
        gate, started = tmp_path / "gate", tmp_path / "started"
        victim_job = _deploy(
            database, "default/victim/prod", out, "v1", gate=str(gate), started=str(started)
        )
        wait_for(started.exists, "the gated create to start", timeout=120)
        [job] = _jobs(database, [victim_job])
        victim = (job.worker_id or "").split(":")[0]
        hosts.kill(victim)
        killed = time.monotonic()
        gate.touch()
        wait_for(lambda: _jobs(database, [victim_job])[0].state.finished, "recovery", timeout=180)
        recovered_s = time.monotonic() - killed
        [job] = _jobs(database, [victim_job])
        assert job.state is JobState.succeeded, job.error
        assert (job.worker_id or "").split(":")[0] != victim
        assert recovered_s < LEASE + 60, recovered_s
        with transaction(database, read_only=True) as session:
            events = list(list_events(session, victim_job))
        assert any(e.kind == "recovery" and f"@{victim} " in e.message for e in events), [
            e.message for e in events
        ]

        # (3) a host cut off from the database mid-job, longer than its lease.
        survivors = [name for name in ("h1", "h2", "h3") if name != victim]
        gate2, started2 = tmp_path / "gate2", tmp_path / "started2"
        cut_job = _deploy(
            database, "default/cut/prod", out, "v1", gate=str(gate2), started=str(started2)
        )
        wait_for(started2.exists, "the second gated create to start", timeout=120)
        [job] = _jobs(database, [cut_job])
        cut_host = (job.worker_id or "").split(":")[0]
        assert cut_host in survivors
        net.cut(cut_host)
        time.sleep(LEASE * 1.5)
        gate2.touch()
        wait_for(lambda: _jobs(database, [cut_job])[0].state.finished, "takeover", timeout=180)
        net.heal(cut_host)
        time.sleep(LEASE + 4)  # the cut host may try its late writes now
        [job] = _jobs(database, [cut_job])
        assert job.state is JobState.succeeded, job.error
        assert (job.worker_id or "").split(":")[0] not in (cut_host, victim)
        with transaction(database, read_only=True) as session:
            events = list(list_events(session, cut_job))
        reaped = next(i for i, e in enumerate(events) if e.kind == "lease_expired")
        late = [
            e.kind
            for e in events[reaped + 1 :]
            if str((e.data or {}).get("worker_id", "")).startswith(f"{cut_host}:")
        ]
        assert late == []

        # (4) the plain CLI sees every stack in the shared backend.
        backend = shared_state_url(server)
        assert backend is not None
        home = tmp_path / "operator"
        home.mkdir()
        listed = subprocess.run(
            [str(pulumi_cli.path), "stack", "ls", "--all", "--json", "--non-interactive"],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(home),
                "PULUMI_HOME": str(home),
                "PULUMI_BACKEND_URL": backend,
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "GOMAXPROCS": "16",  # else Pulumi's connection pool deadlocks (operations.md)
            },
            cwd=home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        names = {s["name"] for s in json.loads(listed.stdout)}
        projects = ("victim", "cut", *(f"app-{i}" for i in range(6)))
        expected = {f"default.{name}" for name in projects}
        assert names == {f"organization/{project}/prod" for project in expected}
        with database.connect() as connection:
            locks = connection.scalar(
                sa.text("SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/locks/%'")
            )
        assert locks == 0
    finally:
        hosts.stop()
        database.dispose()
