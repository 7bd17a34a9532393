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
    every process of that host is SIGKILLed; the gate opens and the stack's next deploy is
    requested at once. The interrupted deployment fails once its lease expired
    (``interrupted_failed_s``); the time from the kill to the next deploy running on the
    other host (``to_running_s``: the lease, the reaper's poll) and to its ``succeeded``
    (``to_succeeded_s``: plus the takeover of the dead host's lock, the engine's
    recovery and the ``up``).

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
from pathlib import Path
from typing import Any

from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings
from shipyard.testing.hosts import Cluster, Host, open_cluster

LEASE = 6.0


def throughput(cluster: Cluster, hosts: list[Host], n: int) -> float:
    for host in hosts:
        cluster.start_worker(host, LEASE)
    started = time.monotonic()
    ids = {cluster.deploy(f"svc-{i:02d}", f"t{len(hosts)}") for i in range(n)}
    cluster.wait_settled(ids, "the deploys", 1200)
    elapsed = time.monotonic() - started
    failed = [r for r in cluster.deployments(ids) if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"deploys did not succeed: {failed}")
    for host in hosts:
        host.kill_all()
    return n / elapsed


def host_death(cluster: Cluster, hosts: list[Host]) -> dict[str, Any]:
    for host in hosts:
        cluster.start_worker(host, LEASE)
    cluster.gate.unlink()
    deployment = cluster.deploy("svc-00", "death")

    def status(deployment_id: int) -> Any:
        [row] = cluster.deployments({deployment_id})
        return row

    def running() -> bool:
        row = status(deployment)
        return row.status == "running" and bool(row.worker_id)

    cluster.wait(running, "the deploy to run", 120)
    time.sleep(1.0)  # mid-up: its create waits on the gate
    cluster.lan.hosts[status(deployment).worker_id.split(":")[0]].kill_all()
    killed = time.monotonic()
    cluster.gate.touch()
    following = cluster.deploy("svc-00", "after-death")
    cluster.wait(lambda: status(deployment).status == "failed", "the failure", LEASE + 60)
    failed = time.monotonic() - killed
    cluster.wait(lambda: status(following).status != "queued", "the takeover", LEASE + 60)
    to_running = time.monotonic() - killed
    cluster.wait_settled({following}, "the next deploy", 120)
    to_succeeded = time.monotonic() - killed
    row = status(following)
    for host in hosts:
        host.kill_all()
    return {
        "lease_s": LEASE,
        "interrupted_status": status(deployment).status,
        "interrupted_failed_s": round(failed, 2),
        "status": row.status,
        "to_running_s": round(to_running, 2),
        "to_succeeded_s": round(to_succeeded, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="5 deploys instead of 20")
    args = parser.parse_args()
    n = 5 if args.quick else 20
    results: dict[str, Any] = {"deploys": n, "stacks": n}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pulumi = ensure_pulumi(Settings(data_dir=root / "probe")).path
        with open_cluster(root, pulumi, n) as cluster:
            cluster.serve(cluster.lan.add_host("api"))
            cluster.register()
            workers = [cluster.lan.add_host(f"worker-{i}") for i in (1, 2, 3)]
            for count in (1, 2, 3):
                rate = throughput(cluster, workers[:count], n)
                results[f"throughput_{count}_hosts_per_s"] = round(rate, 3)
                print(f"{count} worker host(s): {rate:.3f} deploys/s", flush=True)
            results["host_death"] = host_death(cluster, workers[:2])
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
