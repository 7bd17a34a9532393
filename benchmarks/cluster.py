"""Benchmark of several worker hosts on one PostgreSQL (issue #21).

(1) ``throughput``: 20 deploys on 20 stacks with 1, 2 and 3 worker hosts. A host is a
    ``shipyard worker`` process with a data dir of its own; the store, the queue and the
    Pulumi state (``postgres://``, the default) are one throwaway PostgreSQL. Each deploy
    is a real Pulumi ``up`` of one dynamic-provider file resource (the handler
    ``shipyard.jobs.testing:engine_up``). Reported: deploys per second, from the commit
    that queues them to the last one's end. On one machine the "hosts" share its cores:
    the figure shows the queue's overhead and the CPU ceiling, not a real cluster's.
(2) ``host_death_to_running``: two hosts; a deploy whose create waits on a gate runs on
    one of them; that host's whole process tree is SIGKILLed; the gate opens and the
    stack's next deploy is queued at once. The interrupted deploy is not run again: it
    ends ``failed`` once its lease expired. The time is from the kill to the next
    deploy's job ending ``succeeded`` on the other host (the lease's expiry, the
    takeover of the dead host's lock, the engine's recovery, the ``up``).

(3) ``event_to_sse``: engine event -> SSE client when the job runs on another host: one
    worker host runs deploys (each ``up`` gives a few dozen engine events, written by its
    job process's event writer); an API (uvicorn in this process, on the same database)
    streams each deployment's events to a client. From each event's ``created_at`` (when
    the engine gave it, in the job's process) to its line at the client; with the
    stream woken by PostgreSQL's NOTIFY (the default) and by its 0.05 s poll only
    (``listen=False``, as before).

    uv run --frozen python benchmarks/cluster.py \
        --output benchmarks/results/cluster.json [--quick] [--part event_to_sse ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from shipyard.api import ADMIN_TOKEN_FILE, EventStreamOptions, create_app
from shipyard.engine import _procfs
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.jobs import JobKind, JobState, enqueue
from shipyard.settings import Settings
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import append_event
from shipyard.store.models import Component, Deployment, Environment, Job, Stack
from shipyard.testing.postgres import PostgresCluster, throwaway_cluster
from shipyard.testing.server import running_server

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
                # The interrupted deploy fails once its lease expired (it is not run
                # again); the stack's next deploy, queued at once, takes the stack over.
                [next_id] = queue(database, ["default/victim/dev"], work / "out")
                wait_finished(database, [next_id])
                recovered_s = time.monotonic() - killed
                with transaction(database, read_only=True) as session:
                    job = session.get_one(Job, job_id)
                    assert job.state is JobState.failed and job.needs_recovery, job.error
            return {"seconds": round(recovered_s, 2), "lease_s": LEASE_S}
        finally:
            database.dispose()


def follow_events(
    url: str, token: str, deployment_id: int, connected: threading.Event, out: list[float]
) -> None:
    """Follow the deployment's stream to its end: seconds from each engine event's
    ``created_at`` to its arrival here, into ``out``."""
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/deployments/{deployment_id}/events"
    with (
        httpx.Client(base_url=url, headers=headers, trust_env=False) as client,
        client.stream("GET", path, timeout=DEADLINE_S) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("retry:"):
                connected.set()
            elif line.startswith('data: {"seq"'):
                arrived = time.time()
                event = json.loads(line.removeprefix("data: "))
                if event["kind"].startswith("engine."):
                    given = datetime.fromisoformat(event["created_at"]).timestamp()
                    out.append(arrived - given)
            elif line == "event: end":
                return


def stream_deploys(
    database: Engine, settings: Settings, root: Path, deploys: int, *, listen: bool
) -> list[float]:
    """``deploys`` deploys one after another, each followed by an SSE client connected
    before its job is queued; every engine event's latency."""
    stack_id, stack_key = seed_stack(database)
    latencies: list[float] = []
    app = create_app(settings, event_stream=EventStreamOptions(listen=listen))
    with running_server(app) as url:
        token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        for index in range(deploys):
            with transaction(database) as session:
                deployment = Deployment(
                    stack_id=stack_id, tag=f"v{index}", status=DeploymentStatus.running
                )
                session.add(deployment)
                session.flush()
                deployment_id = deployment.id
            connected = threading.Event()
            reader = threading.Thread(
                target=follow_events, args=(url, token, deployment_id, connected, latencies)
            )
            reader.start()
            if not connected.wait(60):
                raise SystemExit("the SSE client did not connect")
            with transaction(database) as session:
                payload = {"path": str(root / "sse-out" / "file.txt"), "content": f"v{index}"}
                job = enqueue(session, JobKind.deploy, stack_key, payload)
                session.get_one(Deployment, deployment_id).job_id = job.id
                job_id = job.id
            wait_finished(database, [job_id])
            with transaction(database) as session:  # the end a deploy's handler writes
                session.get_one(Deployment, deployment_id).status = DeploymentStatus.succeeded
                append_event(session, job_id, "deployment.succeeded", "done")
            reader.join(60)
    return latencies


def seed_stack(database: Engine) -> tuple[int, str]:
    """A component, an environment and a stack for the deployments' rows."""
    with transaction(database) as session:
        environment = session.scalars(select(Environment).where(Environment.name == "dev")).first()
        if environment is None:
            environment = Environment(name="dev", target="local")
            session.add(environment)
        name = f"sse-{time.monotonic_ns()}"
        component = Component(
            namespace="default", name=name, descriptor={"metadata": {"name": name}}
        )
        session.add(component)
        session.flush()
        key = f"default/{component.name}/dev"
        stack = Stack(
            key=key,
            component_id=component.id,
            environment_id=environment.id,
            project=f"default.{component.name}",
            stack_name="dev",
        )
        session.add(stack)
        session.flush()
        return stack.id, key


def event_to_sse(
    cluster: PostgresCluster, root: Path, pulumi: Path, deploys: int
) -> dict[str, Any]:
    with cluster.database() as url:
        database = open_database(url)
        try:
            upgrade(database)
            work = root / "sse"
            settings = Settings(data_dir=work / "api", database_url=url)
            with hosts(1, url, work, pulumi):
                wait_ready(database, work, pulumi, 1)
                found = {}
                for listen in (False, True):
                    samples = stream_deploys(database, settings, work, deploys, listen=listen)
                    found["notified_ms" if listen else "polled_ms"] = summarize(samples)
        finally:
            database.dispose()
    return {
        "what": "from each engine event's created_at (given in the job's process on the "
        "worker host) to its line at an SSE client of the API in this process; "
        f"{deploys} deploys per mode; polled_ms: the stream finds events on its 0.05 s "
        "poll (listen=False, before); notified_ms: PostgreSQL's NOTIFY wakes it (after)",
        **found,
        "goal_p95_ms_max": 10.0,
    }


def summarize(seconds: list[float]) -> dict[str, float]:
    if len(seconds) < 2:
        raise SystemExit(f"only {len(seconds)} engine events reached the client")
    ms = [value * 1000 for value in seconds]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "p50": round(statistics.median(ms), 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
        "max": round(max(ms), 2),
    }


PARTS = ("throughput", "host_death", "event_to_sse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="5 deploys instead of 20")
    parser.add_argument(
        "--part", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    n = 5 if args.quick else 20
    pulumi = ensure_pulumi(Settings()).path
    results: dict[str, Any] = {"deploys": n, "stacks": n}
    loads = [round(value, 2) for value in os.getloadavg()]
    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "throughput" in parts:
            for count in (1, 2, 3):
                rate = throughput(cluster, root, pulumi, count, n)
                results[f"throughput_{count}_hosts_per_s"] = round(rate, 3)
                print(f"{count} host(s): {rate:.3f} deploys/s", flush=True)
        if "host_death" in parts:
            results["host_death_to_running"] = host_death(cluster, root, pulumi)
        if "event_to_sse" in parts:
            results["event_to_sse"] = event_to_sse(cluster, root, pulumi, 3 if args.quick else 10)
    report = {
        "benchmark": "cluster",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_at_start": loads,
        "load_at_end": [round(value, 2) for value in os.getloadavg()],
        "parts": parts,
        "summary": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
