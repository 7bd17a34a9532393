"""Benchmark of the multi-host setup on simulated hosts (issue #21), as the proof runs it.

Hosts are network namespaces on a bridge (:mod:`shipyard.testing.hosts`): PostgreSQL on
one, a ``shipyard serve`` replica (no workers) on another, 1, 2 or 3 ``shipyard worker``
hosts; the store, the queue and the Pulumi state (``postgres://``, the default) are that
one PostgreSQL. Deploys are requested through the API; each runs a real Pulumi ``up`` of a
file resource (the handler ``shipyard.testing.hosts:deploy_file``, no container engine).

(1) ``throughput_<n>_hosts_per_s``: 20 deploys on 20 stacks, from the first request to the
    last deployment's end, with n worker hosts. The hosts share this machine's cores: the
    figure shows the queue's overhead and the CPU ceiling, not a real cluster's.
(2) ``host_death``: two worker hosts; a deploy whose create waits on a gate runs on one;
    every process of that host is SIGKILLed; the gate opens; the time from the kill to the
    stack's deployment running on the other host (``to_running_s``: the lease, the
    reaper's poll) and to its ``succeeded`` (``to_succeeded_s``: plus the takeover of the
    dead host's lock, the engine's recovery and the ``up``).

Needs root (``ip netns``).

    uv run --frozen python benchmarks/cluster_hosts.py \
        --output benchmarks/results/cluster_hosts.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings
from shipyard.testing.hosts import (
    GATE_ENV,
    OUTPUT_ENV,
    Host,
    HostProcess,
    Lan,
    open_lan,
    start_postgres,
)

SHIPYARD = Path(sys.executable).with_name("shipyard")
LEASE = 6.0
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
ENTRY = """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: experimental
  owner: group:default/team-bench
"""


class Bench:
    def __init__(self, lan: Lan, url: str, root: Path, env: dict[str, str]) -> None:
        self.lan, self.url, self.root, self.env = lan, url, root, env
        self.api = ""
        self.token = ""

    def serve(self, host: Host) -> None:
        data = self.root / host.name
        env = {**self.env, "SHIPYARD_DATA_DIR": str(data), "SHIPYARD_HOST": host.address}
        env.update(SHIPYARD_PORT=str(PORT), SHIPYARD_WORKERS="0")
        process = host.start("serve", [str(SHIPYARD), "serve"], env, data / "serve.log")
        self.api = f"http://{host.address}:{PORT}"

        def up() -> bool:
            try:
                return httpx.get(f"{self.api}/healthz", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        self.wait(lambda: self.lan.operator(up) or not process.alive(), "serve", 120)
        if not process.alive():
            raise RuntimeError(f"serve did not start: {process.log.read_text()[-3000:]}")
        self.token = (data / "admin-token").read_text().strip()

    def worker(self, host: Host) -> HostProcess:
        data = self.root / host.name
        argv = [
            str(SHIPYARD), "worker",
            "--handler", "deploy=shipyard.testing.hosts:deploy_file",
            "--lease-seconds", str(LEASE), "--poll-interval", "0.2",
        ]  # fmt: skip
        env = {**self.env, "SHIPYARD_DATA_DIR": str(data)}
        return host.start("worker", argv, env, data / "worker.log")

    def request(self, path: str, body: dict[str, Any]) -> Any:
        def call() -> Any:
            headers = {"Authorization": f"Bearer {self.token}"}
            response = httpx.post(f"{self.api}{path}", json=body, headers=headers, timeout=30)
            response.raise_for_status()
            return response.json()

        return self.lan.operator(call)

    def deploy(self, component: str, tag: str) -> int:
        body = {"environment": "dev", "tag": tag, "force": True}
        return int(self.request(f"/api/v1/components/default/{component}/deployments", body)["id"])

    def rows(self, ids: set[int]) -> list[Any]:
        def run() -> list[Any]:
            database = sa.create_engine(self.url, poolclass=sa.NullPool)
            try:
                with database.connect() as connection:
                    query = sa.text(
                        "SELECT d.id, d.status, j.worker_id FROM deployments d "
                        "JOIN jobs j ON j.id = d.job_id"
                    )
                    return [r for r in connection.execute(query) if r.id in ids]
            finally:
                database.dispose()

        return self.lan.operator(run)

    def settled(self, ids: set[int]) -> bool:
        return all(r.status in ("succeeded", "failed", "cancelled") for r in self.rows(ids))

    @staticmethod
    def wait(check: Callable[[], bool], what: str, timeout: float) -> float:
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)
        return time.monotonic() - started


def throughput(bench: Bench, hosts: list[Host], n: int) -> float:
    for host in hosts:
        bench.worker(host)
    started = time.monotonic()
    ids = {bench.deploy(f"svc-{i:02d}", f"t{len(hosts)}") for i in range(n)}
    bench.wait(lambda: bench.settled(ids), "the deploys", 1200)
    elapsed = time.monotonic() - started
    failed = [r for r in bench.rows(ids) if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"deploys did not succeed: {failed}")
    for host in hosts:
        host.kill_all()
    return n / elapsed


def host_death(bench: Bench, hosts: list[Host], gate: Path) -> dict[str, Any]:
    for host in hosts:
        bench.worker(host)
    gate.unlink()
    deployment = bench.deploy("svc-00", "death")
    found: list[Any] = []

    def running() -> bool:
        found[:] = [r for r in bench.rows({deployment}) if r.status == "running" and r.worker_id]
        return bool(found)

    bench.wait(running, "the deploy to run", 120)
    time.sleep(1.0)  # mid-up: its create waits on the gate
    victim = found[0].worker_id
    dead = bench.lan.hosts[victim.split(":")[0]]
    dead.kill_all()
    killed = time.monotonic()
    gate.touch()
    to_running = bench.wait(
        lambda: bench.rows({deployment})[0].worker_id != victim, "the takeover", LEASE + 60
    )
    to_succeeded = to_running + bench.wait(lambda: bench.settled({deployment}), "the end", 120)
    [row] = bench.rows({deployment})
    for host in hosts:
        host.kill_all()
    return {
        "lease_s": LEASE,
        "status": row.status,
        "to_running_s": round(to_running, 2),
        "to_succeeded_s": round(to_succeeded, 2),
        "measured_from_kill_s": round(time.monotonic() - killed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="5 deploys instead of 20")
    args = parser.parse_args()
    n = 5 if args.quick else 20
    results: dict[str, Any] = {"deploys": n, "stacks": n}
    with tempfile.TemporaryDirectory() as tmp, open_lan() as lan:
        root = Path(tmp)
        root.chmod(0o755)
        pulumi = ensure_pulumi(Settings(data_dir=root / "probe")).path
        (root / "catalog").mkdir()
        entries = "".join(ENTRY.format(name=f"svc-{i:02d}") for i in range(n))
        (root / "catalog" / "catalog-info.yaml").write_text(entries)
        (root / "platform.yaml").write_text(PLATFORM)
        (root / "out").mkdir()
        gate = root / "gate"
        gate.touch()
        with start_postgres(lan, lan.add_host("db")) as url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
                "SHIPYARD_DATABASE_URL": url,
                "SHIPYARD_SECRETS_PROVIDER": "passphrase",
                "PULUMI_CONFIG_PASSPHRASE": "the benchmark's passphrase",
                "SHIPYARD_PULUMI": str(pulumi),
                "SHIPYARD_PLATFORM": str(root / "platform.yaml"),
                "SHIPYARD_SOURCE_ROOTS": json.dumps([str(root)]),
                "SHIPYARD_CACHE_DIR": str(root / "cache"),
                OUTPUT_ENV: str(root / "out"),
                GATE_ENV: str(gate),
            }
            bench = Bench(lan, url, root, env)
            bench.serve(lan.add_host("api"))
            bench.request("/api/v1/components", {"path": str(root / "catalog")})
            workers = [lan.add_host(f"worker-{i}") for i in (1, 2, 3)]
            for count in (1, 2, 3):
                rate = throughput(bench, workers[:count], n)
                results[f"throughput_{count}_hosts_per_s"] = round(rate, 3)
                print(f"{count} worker host(s): {rate:.3f} deploys/s", flush=True)
            results["host_death"] = host_death(bench, workers[:2], gate)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": os.getloadavg(),
        "summary": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
