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
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings
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
