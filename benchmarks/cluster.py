"""Benchmark of several worker hosts on one PostgreSQL (issue #21).

(1) ``throughput``: 20 deploys on 20 stacks with 1, 2 and 3 worker hosts. A host is a
    ``shipyard worker`` process with a data dir of its own; the store, the queue and the
    Pulumi state (``postgres://``, the default) are one throwaway PostgreSQL. Each deploy
    is a real Pulumi ``up`` of one dynamic-provider file resource (the handler
    ``shipyard.jobs.testing:engine_up``). Reported: deploys per second, from the commit
    that queues them to the last one's end. On one machine the "hosts" share its cores:
    the figure shows the queue's overhead and the CPU ceiling, not a real cluster's.
(2) ``host_death_to_running``: two hosts; a deploy whose create waits on a gate runs on
    one of them; that host's whole process tree is SIGKILLed; the gate opens; the time
    from the kill to the stack's job ending ``succeeded`` on the other host (the lease,
    the takeover of the dead host's lock, the engine's recovery, the ``up``).

    uv run --frozen python benchmarks/cluster.py \
        --output benchmarks/results/cluster.json [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from shipyard.engine import _procfs
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.jobs import JobKind, JobState, enqueue
from shipyard.settings import Settings
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.models import Job
from shipyard.testing.postgres import PostgresCluster, throwaway_cluster

SHIPYARD = Path(sys.executable).with_name("shipyard")
HANDLER = "deploy=shipyard.jobs.testing:engine_up"
DEADLINE_S = 900.0
LEASE_S = 10.0


@contextlib.contextmanager
def hosts(
    count: int, url: str, root: Path, pulumi: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker hosts (processes in sessions of their own); stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            data = root / f"host-{index}"
            data.mkdir(parents=True, exist_ok=True)
            log = (root / f"host-{index}.log").open("wb")
            started.append(
                subprocess.Popen(
                    [
                        str(SHIPYARD),
                        "worker",
                        "--handler",
                        HANDLER,
                        "--lease-seconds",
                        str(LEASE_S),
                        "--poll-interval",
                        "0.05",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={
                        **os.environ,
                        "SHIPYARD_DATA_DIR": str(data),
                        "SHIPYARD_DATABASE_URL": url,
                        "SHIPYARD_SECRETS_PROVIDER": "passphrase",
                        "PULUMI_CONFIG_PASSPHRASE": "benchmark",
                        "SHIPYARD_PULUMI": str(pulumi),
                        "SHIPYARD_LOG_FORMAT": "json",
                    },
                    start_new_session=True,
                )
            )
            log.close()
        yield started
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(database: Engine, root: Path, pulumi: Path, count: int) -> None:
    """One warm-up deploy per host-to-be, so every host has started its job processes."""
    ids = queue(database, [f"default/warm-{i}/dev" for i in range(count)], root / "warm")
    wait_finished(database, ids)


def queue(database: Engine, stacks: list[str], out: Path, **extra: str) -> list[int]:
    out.mkdir(parents=True, exist_ok=True)
    with transaction(database) as session:
        return [
            enqueue(
                session,
                JobKind.deploy,
                stack,
                {"path": str(out / f"{i}.txt"), "content": "v1", **extra},
            ).id
            for i, stack in enumerate(stacks)
        ]


def wait_finished(database: Engine, ids: list[int]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        with transaction(database, read_only=True) as session:
            states = dict(
                session.execute(
                    select(Job.state, func.count()).where(Job.id.in_(ids)).group_by(Job.state)
                ).all()
            )
        if sum(n for state, n in states.items() if state.finished) == len(ids):
            failed = states.get(JobState.failed, 0)
            if failed:
                raise SystemExit(f"{failed} deploy(s) failed")
            return
        time.sleep(0.05)  # a poll interval, bounded by the deadline
    raise SystemExit(f"the deploys did not end within {DEADLINE_S} s")


def throughput(cluster: PostgresCluster, root: Path, pulumi: Path, count: int, n: int) -> float:
    with cluster.database() as url:
        database = open_database(url)
        try:
            upgrade(database)
            with hosts(count, url, root / f"tp-{count}", pulumi):
                wait_ready(database, root / f"tp-{count}", pulumi, count)
                stacks = [f"default/app-{i}/dev" for i in range(n)]
                started = time.monotonic()
                ids = queue(database, stacks, root / f"tp-{count}" / "out")
                wait_finished(database, ids)
                return n / (time.monotonic() - started)
        finally:
            database.dispose()


def host_death(cluster: PostgresCluster, root: Path, pulumi: Path) -> dict[str, Any]:
    with cluster.database() as url:
        database = open_database(url)
        try:
            upgrade(database)
            work = root / "death"
            with hosts(2, url, work, pulumi) as processes:
                wait_ready(database, work, pulumi, 2)
                gate, started = work / "gate", work / "started"
                [job_id] = queue(
                    database,
                    ["default/victim/dev"],
                    work / "out",
                    gate=str(gate),
                    started=str(started),
                )
                deadline = time.monotonic() + DEADLINE_S
                while not started.exists():
                    if time.monotonic() > deadline:
                        raise SystemExit("the gated deploy never started")
                    time.sleep(0.05)  # a poll interval, bounded by the deadline
                with transaction(database, read_only=True) as session:
                    worker_id = session.get_one(Job, job_id).worker_id or ""
                pid = int(worker_id.split(":")[1])
                [victim] = [p for p in processes if p.pid == pid]
                family = _procfs.descendants(victim.pid)
                killed = time.monotonic()
                os.kill(victim.pid, signal.SIGKILL)
                for process in family:
                    _procfs.kill_group(process)
                gate.touch()
                wait_finished(database, [job_id])
                recovered_s = time.monotonic() - killed
                with transaction(database, read_only=True) as session:
                    job = session.get_one(Job, job_id)
                    assert job.state is JobState.succeeded and job.attempts == 2
            return {"seconds": round(recovered_s, 2), "lease_s": LEASE_S}
        finally:
            database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="5 deploys instead of 20")
    args = parser.parse_args()
    n = 5 if args.quick else 20
    pulumi = ensure_pulumi(Settings()).path
    results: dict[str, Any] = {"deploys": n, "stacks": n}
    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for count in (1, 2, 3):
            rate = throughput(cluster, root, pulumi, count, n)
            results[f"throughput_{count}_hosts_per_s"] = round(rate, 3)
            print(f"{count} host(s): {rate:.3f} deploys/s", flush=True)
        results["host_death_to_running"] = host_death(cluster, root, pulumi)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "summary": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
