"""Benchmark of the control plane: API, job queue, workers, SSE and the server's footprint.

(1) ``deploy_vs_sdk_up``: a forced deploy through the API of a ``shipyard serve``
    process (POST, a worker runs the job in its child process, the client follows the
    deployment's SSE stream to its ``end``)
    vs what a user would otherwise run: a direct Automation API ``up`` through the Pulumi
    SDK (``pulumi.automation.create_or_select_stack`` with an inline program, then
    ``stack.up()``) of the same program on the same backend and passphrase: the local
    target's program for the same stack, desired state (resolved from the stored
    descriptor, as the job does) and image. ``deploy_vs_engine_up``, from the same rounds:
    the same deploy vs a direct ``Engine.up`` (Shipyard's own engine), reported, not a goal.
    Tags v1 and v2 alternate, so every ``up`` switches the revision (real containers,
    Caddy, health checks); the order of the three rotates. Both images are built beforehand.
(2) ``unchanged_deploy``: POST of a deploy whose image digest and desired-state hash equal
    what runs: 202 ``unchanged``, no job (a container inspect checks the service runs).
(3) ``worker_scaling``: deploys of different components (stacks) with 2 workers vs 1.
    Each is a real Pulumi ``up`` of one dynamic-provider file resource (the handler
    ``shipyard.jobs.testing:engine_up``), not a container deploy: 20 image builds and
    container starts would measure the 2-core machine, not the workers.
(4) ``api_latency``: GET a component page, a component and a deployment, against a real
    uvicorn server on 127.0.0.1 holding 10k components and 100k deployments (bulk-inserted
    with SQLAlchemy core), on SQLite and on a throwaway PostgreSQL.
(5) ``event_to_sse`` (in ``api_latency``): a job event committed the way a worker's child
    commits one (its own transaction) until a connected SSE client reads it, at the
    product's default poll interval (0.05 s; the server with ``listen=False``: (7) measures
    PostgreSQL's NOTIFY); and ``woken``, with the ring a worker of the server's process
    gives when its job's process reports the commit.
(6) ``idle_rss``: VmRSS of a ``shipyard serve --workers 1`` subprocess a few seconds after
    /healthz answers, alone and with its child processes (Caddy, the job fork server).
(7) ``event_to_sse``: engine event -> SSE client on PostgreSQL when the job runs on another
    host: the events are committed by another process (its own connection, as a job's
    process on a worker host commits them), the API's stream is woken by its poll (the
    server with ``listen=False``: before) or by the database's NOTIFY (the default: after).
(8) ``api_scale``: the routes of (4) on PostgreSQL at 10 times its size: 100k components
    and 1M deployments (bulk inserts of 10,000 rows), plus the components' keyset pages
    (``after``), with the query plans (EXPLAIN ANALYZE) of the list and read statements.

    uv run --frozen python benchmarks/control_plane.py \
        --output benchmarks/results/control_plane.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from pulumi import automation as auto
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.api import ADMIN_TOKEN_FILE, EventStreamOptions, create_app
from shipyard.engine import EngineEventRecord, Program, StackRef
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.jobs import HandlerRegistry, JobKind, enqueue
from shipyard.jobs.doorbell import JOB_COMMITS
from shipyard.jobs.worker import run_workers
from shipyard.services.desired import desired_state, platform_of
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction, upgrade
from shipyard.store.components import get_component_by_ref, list_components
from shipyard.store.enums import DeploymentStatus, JobState
from shipyard.store.events import append_event
from shipyard.targets.local.flow import LocalTarget
from shipyard.testing.postgres import throwaway_cluster
from shipyard.testing.server import running_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/integration/services"))
from plane_world import PLATFORM, ControlPlane, open_control_plane

GOALS = {
    "deploy_vs_sdk_up_ratio_max": 0.8,
    "unchanged_deploy_s_max": 0.1,
    "worker_speedup_min": 1.8,
    "api_p99_ms_max": 25.0,
    "event_to_sse_p95_ms_max": 100.0,
    "event_to_sse_other_host_p95_ms_max": 10.0,
    "api_scale_p99_ms_max": 25.0,
}
DEADLINE_S = 600.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PARTS = ("idle_rss", "api_latency", "event_to_sse", "api_scale", "deploys", "worker_scaling")
_DONE_JOBS = (JobState.succeeded, JobState.failed, JobState.cancelled)


@dataclass(frozen=True)
class Sizes:
    pairs: int
    """Rounds of the deploy ratios: one deploy through the API, one direct engine ``up``
    and one SDK ``up`` each."""
    unchanged: int
    scaling_deploys: int
    components: int
    deployments_per_component: int
    requests_per_route: int
    sse_events: int
    scale_components: int
    """``api_scale``: components, with ``deployments_per_component`` deployments each."""

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1, 20, 4, 500, 10, 100, 20, 2_000)
        return cls(24, 40, 20, 10_000, 10, 1_500, 200, 100_000)


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50": round(statistics.median(samples), 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
        "max": round(max(samples), 2),
    }


def median_interval(values: list[float], resamples: int = 2_000) -> list[float]:
    """A 95% bootstrap interval of the median of ``values`` (seeded: the same values give
    the same interval). The spread that another run of as many samples may show."""
    draw = random.Random(0)
    medians = sorted(
        statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples)
    )
    return [round(medians[int(0.025 * resamples)], 3), round(medians[int(0.975 * resamples)], 3)]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # a poll interval, bounded by the deadline


# -- (1) and (2): deploys through the API -------------------------------------------------


def follow(client: httpx.Client, deployment_id: int) -> str:
    """Follow the deployment's SSE stream to its ``end`` event; the final status."""
    path = f"/api/v1/deployments/{deployment_id}/events"
    with client.stream("GET", path, timeout=DEADLINE_S) as response:
        ended = False
        for line in response.iter_lines():
            if line == "event: end":
                ended = True
            elif ended and line.startswith("data: "):
                status: str = json.loads(line.removeprefix("data: "))["status"]
                return status
    raise SystemExit(f"the event stream of deployment {deployment_id} ended without an end")


SETTLE_S = 0.5
"""The pause before each measured deploy of the ratio: what the previous one left running
(the worker recording its job and readying its next job process) ends before the next one
starts, whichever side it is."""


def api_deploy(
    plane: ControlPlane, tag: str, *, force: bool, settle: bool = False
) -> tuple[float, dict[str, Any]]:
    if settle:
        time.sleep(SETTLE_S)
    path = f"/api/v1/components/default/{plane.name}/deployments"
    started = time.perf_counter()
    response = plane.api.client.post(path, json={"environment": "dev", "tag": tag, "force": force})
    if response.status_code != 202:
        raise SystemExit(f"deploy {tag}: {response.status_code} {response.text}")
    status = follow(plane.api.client, response.json()["id"])
    elapsed = time.perf_counter() - started
    body: dict[str, Any] = plane.api.client.get(
        f"/api/v1/deployments/{response.json()['id']}"
    ).json()
    if status != "succeeded":
        raise SystemExit(f"deploy {tag} ended {status}: {body.get('error')}")
    return elapsed, body


def prepare(plane: ControlPlane) -> None:
    """Register, provision, and build v1 and v2 (deployed once each through the API)."""
    client = plane.api.client
    registered = client.post("/api/v1/components", json={"path": str(plane.catalog)})
    if registered.status_code != 201:
        raise SystemExit(f"register: {registered.text}")
    provision = client.post(
        f"/api/v1/components/default/{plane.name}/provision", json={"environment": "dev"}
    )
    if follow(client, provision.json()["id"]) != "succeeded":
        raise SystemExit("provision failed")
    for tag in ("v1", "v2"):
        plane.release(tag)
        api_deploy(plane, tag, force=False)


def direct_up(
    plane: ControlPlane, target: LocalTarget, tag: str, *, settle: bool = False
) -> tuple[float, float]:
    """An engine ``up`` of the program the deploy job runs for this stack and tag; its
    seconds, and the seconds to its first engine event."""
    if settle:
        time.sleep(SETTLE_S)
    with transaction(plane.api.database, read_only=True) as session:
        component = get_component_by_ref(session, "default", plane.name)
        desired = desired_state(component, "dev", platform_of(plane.settings))
    release = target.release_of(desired, tag)
    assert release is not None, f"no image for {tag}"
    program = target.program(desired, release)
    events: list[EngineEventRecord] = []
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    result = target.engine.up(
        StackRef.of(desired.component, "dev"), program, on_event=events.append
    )
    elapsed = time.perf_counter() - started
    if not result.changed:
        raise SystemExit(f"the direct up of {tag} changed nothing: not a comparable run")
    first_event_s = (events[0].timestamp - started_at).total_seconds() if events else 0.0
    return elapsed, round(first_event_s, 3)


class SdkSide:
    """What a user would otherwise run: the Pulumi SDK's Automation API on the stack the
    deploys use, with the same CLI, backend, passphrase, ``PULUMI_HOME`` and variables as
    Shipyard's engine (its ``environment``), from a project directory of its own that holds
    the stack's settings file (its ``encryptionsalt``), as a user's project would."""

    def __init__(self, target: LocalTarget, ref: StackRef, work_dir: Path) -> None:
        database = target.engine
        self.ref = ref
        self.work_dir = work_dir
        work_dir.mkdir(parents=True)
        settings_file = database.work_dir(ref) / f"Pulumi.{ref.stack}.yaml"
        if settings_file.exists():
            shutil.copy(settings_file, work_dir / settings_file.name)
        self.environment = dict(database.environment)
        self.backend_url = database.backend_url
        self.command = auto.PulumiCommand(root=str(database.cli.bin_dir.parent))

    def up(self, program: Program) -> tuple[float, float]:
        """``create_or_select_stack`` + ``stack.up()``: its seconds, and the select's."""
        options = auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir),
            env_vars=self.environment,
            secrets_provider="passphrase",
            project_settings=auto.ProjectSettings(
                name=self.ref.project,
                runtime="python",
                backend=auto.ProjectBackend(url=self.backend_url),
            ),
            pulumi_command=self.command,
        )
        events: list[object] = []
        started = time.perf_counter()
        stack = auto.create_or_select_stack(
            self.ref.stack, project_name=self.ref.project, program=program, opts=options
        )
        selected = time.perf_counter() - started
        result = stack.up(on_event=events.append, color="never", show_secrets=False)
        elapsed = time.perf_counter() - started
        changes = result.summary.resource_changes or {}
        if not any(count for op, count in changes.items() if op != "same"):
            raise SystemExit("the SDK's up changed nothing: not a comparable run")
        return elapsed, round(selected, 3)


def sdk_up(
    plane: ControlPlane, target: LocalTarget, sdk: SdkSide, tag: str, *, settle: bool = False
) -> tuple[float, float]:
    """The SDK's ``up`` of the program the deploy job runs for this stack and tag."""
    if settle:
        time.sleep(SETTLE_S)
    with transaction(plane.api.database, read_only=True) as session:
        component = get_component_by_ref(session, "default", plane.name)
        desired = desired_state(component, "dev", platform_of(plane.settings))
    release = target.release_of(desired, tag)
    assert release is not None, f"no image for {tag}"
    return sdk.up(target.program(desired, release))


def seconds_between(body: dict[str, Any], start: str, end: str) -> float:
    return round(
        (datetime.fromisoformat(body[end]) - datetime.fromisoformat(body[start])).total_seconds(),
        3,
    )


MILESTONES = (
    "started",
    "process_started",
    "deployment.running",
    "engine.",
    "deployment.succeeded",
)


def milestones(plane: ControlPlane, body: dict[str, Any]) -> dict[str, float]:
    """Seconds from the request to the first event of each kind (``engine.``: the first
    engine event)."""
    response = plane.api.client.get(
        f"/api/v1/deployments/{body['id']}/events", params={"follow": "false"}
    )
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith('data: {"seq"')
    ]
    requested = datetime.fromisoformat(body["created_at"])
    found: dict[str, float] = {}
    for event in events:
        for name in MILESTONES:
            matches = event["kind"] == name or (
                name.endswith(".") and event["kind"].startswith(name)
            )
            if matches and name not in found:
                at = datetime.fromisoformat(event["created_at"]) - requested
                found[name] = round(at.total_seconds(), 3)
    return found


SIDES = ("api", "engine", "sdk")


def deploys(root: Path, sizes: Sizes) -> dict[str, Any]:
    root.mkdir(parents=True)
    # `shipyard serve` in a process of its own, as users run it; no autoDeploy, so the tag
    # watchers never start a deploy of their own between the measured ones.
    platform = PLATFORM.replace("autoDeploy: true", "autoDeploy: false")
    with open_control_plane(root, platform=platform, served=True) as plane:
        prepare(plane)
        rounds = []
        ups = 0
        with LocalTarget.from_settings(plane.settings) as target:
            sdk = SdkSide(target, StackRef.of(f"default/{plane.name}", "dev"), root / "sdk")
            for index in range(sizes.pairs):
                measured: dict[str, Any] = {}
                order = SIDES[index % 3 :] + SIDES[: index % 3]
                for side in order:
                    tag = "v1" if ups % 2 == 0 else "v2"  # every up switches the revision
                    ups += 1
                    if side == "api":
                        measured["api_s"], body = api_deploy(plane, tag, force=True, settle=True)
                    elif side == "engine":
                        measured["engine_up_s"], measured["engine_up_first_event_s"] = direct_up(
                            plane, target, tag, settle=True
                        )
                    else:
                        measured["sdk_up_s"], measured["sdk_select_s"] = sdk_up(
                            plane, target, sdk, tag, settle=True
                        )
                api_s, engine_s, sdk_s = (
                    measured["api_s"],
                    measured["engine_up_s"],
                    measured["sdk_up_s"],
                )
                rounds.append(
                    {
                        "order": list(order),
                        "api_s": round(api_s, 3),
                        "sdk_up_s": round(sdk_s, 3),
                        "sdk_select_s": measured["sdk_select_s"],
                        "engine_up_s": round(engine_s, 3),
                        "engine_up_first_event_s": measured["engine_up_first_event_s"],
                        "ratio_vs_sdk": round(api_s / sdk_s, 3),
                        "ratio_vs_engine": round(api_s / engine_s, 3),
                        "engine_vs_sdk": round(engine_s / sdk_s, 3),
                        "queued_s": seconds_between(body, "created_at", "started_at"),
                        "job_s": seconds_between(body, "started_at", "finished_at"),
                        "api_milestones_s": milestones(plane, body),
                    }
                )
        load_after_rounds = load()
        # What runs now is the last API deploy's release only if the last up was the API's.
        api_deploy(plane, "v2", force=True)
        unchanged = unchanged_latency(plane, "v2", sizes.unchanged)

    def ratio_of(key: str) -> dict[str, Any]:
        values = [r[key] for r in rounds]
        return {
            "median_ratio": round(statistics.median(values), 3),
            "median_ratio_ci95": median_interval(values),
            "mean_ratio": round(statistics.mean(values), 3),
        }

    def median_of(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 3)

    return {
        "deploy_vs_sdk_up": {
            "what": "wall time of a forced deploy through the API of a `shipyard serve` "
            "process with the product's defaults (POST -> the enqueue's commit wakes the "
            "worker -> the job in its ready process reads its records, resolves, runs the "
            "engine's up -> SSE `end` read by the client) vs what a user would otherwise "
            "run: pulumi.automation.create_or_select_stack(stack, project, inline program, "
            "the same CLI, backend, passphrase and PULUMI_HOME) then stack.up(on_event=..., "
            "color='never', show_secrets=False), timed from the select (sdk_select_s: its "
            "part); the same program (LocalTarget.program for the same stack, desired state "
            "and image), tags alternating so each up switches the revision, the three sides "
            "in rotating order, each after a pause of SETTLE_S; median of the rounds' "
            "ratios, with a 95% bootstrap interval of that median (the rounds resampled); "
            "queued_s and job_s are the deployment's own timestamps; api_milestones_s: "
            "seconds from the request to the job's first events of each kind",
            "same_program": "LocalTarget(settings).program(desired_state(stored component, "
            "'dev', platform), release_of(tag)) on stack default/<name>/dev",
            "rounds": rounds,
            **ratio_of("ratio_vs_sdk"),
            "median_api_s": median_of("api_s"),
            "median_sdk_up_s": median_of("sdk_up_s"),
            "goal_ratio_max": GOALS["deploy_vs_sdk_up_ratio_max"],
            "load_after": load_after_rounds,
        },
        "deploy_vs_engine_up": {
            "what": "the same rounds: the deploy through the API vs a direct Engine.up "
            "(Shipyard's own engine) of the same program; reported, not a goal",
            **ratio_of("ratio_vs_engine"),
            "median_engine_up_s": median_of("engine_up_s"),
        },
        "engine_vs_sdk_up": {
            "what": "the same rounds: a direct Engine.up vs the SDK's create_or_select_stack "
            "+ up (the SDK follows every up with `stack output` twice and `stack history`)",
            **ratio_of("engine_vs_sdk"),
        },
        "unchanged_deploy": unchanged,
    }


def unchanged_latency(plane: ControlPlane, tag: str, requests: int) -> dict[str, Any]:
    path = f"/api/v1/components/default/{plane.name}/deployments"
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = plane.api.client.post(path, json={"environment": "dev", "tag": tag})
        samples.append(time.perf_counter() - started)
        body = response.json()
        if response.status_code != 202 or body["status"] != "unchanged" or body["job"]:
            raise SystemExit(f"expected unchanged, got {response.status_code} {body}")
    stats = percentiles([s * 1000 for s in samples])
    return {
        "what": "client wall time of POST deployments for the tag that runs (same digest "
        "and desired-state hash): 202 `unchanged`, no job; includes one container inspect",
        "ms": stats,
        "median_s": round(stats["p50"] / 1000, 4),
        "p95_s": round(stats["p95"] / 1000, 4),
        "goal_s_max": GOALS["unchanged_deploy_s_max"],
        "load_after": load(),
    }


# -- (3) workers ------------------------------------------------------------------------


def run_jobs(root: Path, pulumi: Path, workers: int, count: int) -> dict[str, Any]:
    settings = Settings(
        data_dir=root / f"workers-{workers}",
        cache_dir=root / "cache",
        pulumi=pulumi,
        backend_url=None,
        secrets_provider=None,
    )
    database = open_database(settings)
    upgrade(database)
    handlers = HandlerRegistry()
    handlers.register(JobKind.deploy, "shipyard.jobs.testing:engine_up")
    stop = threading.Event()
    thread = threading.Thread(
        target=run_workers,
        args=(settings, workers, stop),
        kwargs={"handlers": handlers, "poll_interval": 0.05},
    )
    thread.start()
    try:
        enqueue_and_wait(database, settings, "warmup", workers)  # fork server, plugins
        cpu_before = cpu_times()
        started = time.perf_counter()
        enqueue_and_wait(database, settings, "bench", count)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_times()
    finally:
        stop.set()
        thread.join(DEADLINE_S)
        database.dispose()
    busy = cpu_after[0] - cpu_before[0]
    total = cpu_after[1] - cpu_before[1]
    return {
        "workers": workers,
        "deploys": count,
        "wall_s": round(elapsed, 3),
        "machine_cpu_busy": round(busy / total, 3) if total else None,
        "cpu_s_per_deploy": round(busy / CLOCK_TICKS / count, 3),
    }


def cpu_times() -> tuple[int, int]:
    """The machine's busy and total CPU time so far, in clock ticks (/proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def enqueue_and_wait(database: Engine, settings: Settings, prefix: str, count: int) -> None:
    with transaction(database) as session:
        ids = [
            enqueue(
                session,
                JobKind.deploy,
                f"bench/{prefix}-{index}/dev",
                {
                    "path": str(settings.data_dir / f"{prefix}-{index}.txt"),
                    "content": f"{prefix} {index}",
                },
            ).id
            for index in range(count)
        ]

    def finished() -> bool:
        with transaction(database, read_only=True) as session:
            states = session.scalars(sa.select(models.Job.state).where(models.Job.id.in_(ids)))
            return all(state in _DONE_JOBS for state in states)

    wait_until(finished, f"{count} {prefix} jobs")
    with transaction(database, read_only=True) as session:
        failed = session.scalars(
            sa.select(models.Job.error).where(
                models.Job.id.in_(ids), models.Job.state != JobState.succeeded
            )
        ).all()
    if failed:
        raise SystemExit(f"{len(failed)} jobs failed: {failed[0]}")


def worker_scaling(root: Path, sizes: Sizes) -> dict[str, Any]:
    pulumi = ensure_pulumi(Settings()).path
    one = run_jobs(root, pulumi, 1, sizes.scaling_deploys)
    two = run_jobs(root, pulumi, 2, sizes.scaling_deploys)
    return {
        "what": f"{sizes.scaling_deploys} deploy jobs on as many stacks, enqueued at once, "
        "until all succeeded; each a real Pulumi up of one dynamic-provider file resource "
        "(shipyard.jobs.testing:engine_up) in the job's child process, worker poll 0.05 s; "
        "not container deploys (too heavy for 2 shared cores)",
        "runs": [one, two],
        "speedup": round(one["wall_s"] / two["wall_s"], 3),
        "goal_speedup_min": GOALS["worker_speedup_min"],
        "load_after": load(),
    }


# -- (4) and (5): the API on a large database ------------------------------------------


def bulk_insert(database: Engine, components: int, per_component: int) -> tuple[int, int]:
    """``components`` components with a dev stack each and ``per_component`` finished
    deployments per stack; the first and last deployment id."""
    now = datetime.now(UTC)
    descriptor = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "spec": {"type": "service", "lifecycle": "production", "owner": "group:team"},
    }
    with transaction(database) as session:
        connection = session.connection()
        env_id = connection.execute(
            sa.insert(models.Environment)
            .values(name="dev", target="local")
            .returning(models.Environment.id)
        ).scalar_one()
        for start in range(0, components, 2_000):
            names = [f"svc-{i:05d}" for i in range(start, min(start + 2_000, components))]
            connection.execute(
                sa.insert(models.Component),
                [
                    {
                        "namespace": "default",
                        "name": name,
                        "owner": "group:team",
                        "template": "web-service",
                        "source": f"https://git.example/{name}.git",
                        "descriptor": {**descriptor, "metadata": {"name": name}},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for name in names
                ],
            )
        rows = connection.execute(sa.select(models.Component.id, models.Component.name)).all()
        connection.execute(
            sa.insert(models.Stack),
            [
                {
                    "key": f"default/{name}/dev",
                    "component_id": component_id,
                    "environment_id": env_id,
                    "project": f"default.{name}",
                    "stack_name": "dev",
                    "url": f"http://{name}.localhost",
                    "outputs": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for component_id, name in rows
            ],
        )
        stack_ids = connection.execute(sa.select(models.Stack.id)).scalars().all()
        batch: list[dict[str, Any]] = []
        for number in range(per_component):
            for stack_id in stack_ids:
                created = now - timedelta(minutes=per_component - number)
                batch.append(
                    {
                        "stack_id": stack_id,
                        "tag": f"v{number}",
                        "status": DeploymentStatus.succeeded,
                        "reason": "deploy",
                        "force": False,
                        "created_at": created,
                        "started_at": created,
                        "finished_at": created + timedelta(seconds=5),
                    }
                )
                if len(batch) == 10_000:
                    connection.execute(sa.insert(models.Deployment), batch)
                    batch = []
        if batch:
            connection.execute(sa.insert(models.Deployment), batch)
        low, high = connection.execute(
            sa.select(sa.func.min(models.Deployment.id), sa.func.max(models.Deployment.id))
        ).one()
    return int(low), int(high)


@contextmanager
def api_server(
    settings: Settings, options: EventStreamOptions | None = None
) -> Iterator[httpx.Client]:
    """The product's app (default event-stream options unless given) under uvicorn on
    127.0.0.1."""
    with running_server(create_app(settings, event_stream=options)) as url:
        token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as client:
            yield client


def time_routes(
    client: httpx.Client, sizes: Sizes, deployment_ids: tuple[int, int], *, keyset: bool = False
) -> dict[str, Any]:
    """``keyset``: the components' pages by ``after`` too."""
    rng = random.Random(6)
    last_page = max(sizes.components - 50, 0)
    routes: dict[str, Callable[[], str]] = {
        "GET /api/v1/components?limit=50&offset=N": lambda: (
            f"/api/v1/components?limit=50&offset={rng.randrange(0, last_page + 1)}"
        ),
        "GET /api/v1/components/{namespace}/{name}": lambda: (
            f"/api/v1/components/default/svc-{rng.randrange(sizes.components):05d}"
        ),
        "GET /api/v1/deployments/{id}": lambda: (
            f"/api/v1/deployments/{rng.randint(*deployment_ids)}"
        ),
    }
    if keyset:
        routes["GET /api/v1/components?limit=50&after=namespace/name"] = lambda: (
            f"/api/v1/components?limit=50&after=default/svc-{rng.randrange(last_page + 1):05d}"
        )
    samples: dict[str, list[float]] = {route: [] for route in routes}
    for round_ in range(sizes.requests_per_route + 20):
        for route, path in routes.items():
            started = time.perf_counter()
            response = client.get(path())
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{route}: {response.status_code} {response.text}")
            if round_ >= 20:  # the first rounds warm caches and connections
                samples[route].append(elapsed * 1000)
    return {route: percentiles(values) for route, values in samples.items()}


def sse_latency(
    client: httpx.Client, database: Engine, events: int, *, woken: bool
) -> dict[str, Any]:
    """Commit -> SSE client. ``woken``: the commit is followed by the ring a worker of the
    server's process gives when its job's process reports a commit; else the stream finds
    the event on its poll (a worker in another process)."""
    with transaction(database) as session:
        stack = session.scalars(sa.select(models.Stack).limit(1)).one()
        job = enqueue(session, JobKind.deploy, stack.key)
        deployment = models.Deployment(
            stack_id=stack.id, job_id=job.id, tag="sse", status=DeploymentStatus.running
        )
        session.add(deployment)
        session.flush()
        job_id, deployment_id = job.id, deployment.id
    arrived: dict[int, float] = {}
    connected = threading.Event()

    def read() -> None:
        path = f"/api/v1/deployments/{deployment_id}/events"
        with client.stream("GET", path, timeout=DEADLINE_S) as response:
            for line in response.iter_lines():
                if line.startswith("retry:"):
                    connected.set()
                elif line.startswith("id: "):
                    arrived[int(line.removeprefix("id: "))] = time.perf_counter()
                elif line == "event: end":
                    return

    reader = threading.Thread(target=read)
    reader.start()
    if not connected.wait(60):
        raise SystemExit("the SSE client did not connect")
    committed: dict[int, float] = {}
    rng = random.Random(5)
    for index in range(events):
        time.sleep(rng.uniform(0.01, 0.15))  # events at random phases of the server's poll
        with transaction(database) as session:
            seq = append_event(
                session, job_id, "engine.diagnostic", f"line {index}", data={"i": index}
            ).seq
        committed[seq] = time.perf_counter()
        if woken:
            JOB_COMMITS.ring(job_id)
    wait_until(lambda: len(arrived) >= events, "every event at the SSE client", 60)
    with transaction(database) as session:
        row = session.get_one(models.Deployment, deployment_id)
        row.status = DeploymentStatus.succeeded
    reader.join(60)
    return percentiles([(arrived[seq] - at) * 1000 for seq, at in committed.items()])


def api_on(url: str, root: Path, sizes: Sizes) -> dict[str, Any]:
    settings = Settings(data_dir=root, database_url=url)
    database = open_database(settings)
    try:
        upgrade(database)
        started = time.perf_counter()
        ids = bulk_insert(database, sizes.components, sizes.deployments_per_component)
        inserted_s = time.perf_counter() - started
        # Polling only, as before PostgreSQL's NOTIFY: (7) measures that one.
        with api_server(settings, EventStreamOptions(listen=False)) as client:
            routes = time_routes(client, sizes, ids)
            sse = sse_latency(client, database, sizes.sse_events, woken=False)
            sse_woken = sse_latency(client, database, sizes.sse_events, woken=True)
    finally:
        database.dispose()
    return {
        "rows": {
            "components": sizes.components,
            "deployments": sizes.components * sizes.deployments_per_component,
            "insert_s": round(inserted_s, 1),
        },
        "routes_ms": routes,
        "worst_p99_ms": max(r["p99"] for r in routes.values()),
        "event_to_sse_ms": sse,
        "event_to_sse_woken_ms": sse_woken,
        "load_after": load(),
    }


def api_latency(root: Path, sizes: Sizes) -> dict[str, Any]:
    results: dict[str, Any] = {
        "what": "routes_ms: client wall time (httpx, keep-alive, admin bearer token) of "
        "GET components pages at random offsets, components by name and deployments by id, "
        "round-robin, after 20 warm-up rounds, against uvicorn on 127.0.0.1 in a thread of "
        "this process; event_to_sse_ms: from the commit of an event (its own transaction, "
        "as a job's child writes it) to its line at a connected SSE client, events at "
        "random 10-150 ms intervals, the server's default poll interval (a worker in "
        "another process); event_to_sse_woken_ms: the same, each commit followed by the "
        "ring a worker of the server's process gives when its job's process reports one",
        "sqlite": api_on(f"sqlite:///{root / 'sqlite' / 'shipyard.db'}", root / "sqlite", sizes),
    }
    with throwaway_cluster() as cluster, cluster.database() as url:
        results["postgresql"] = api_on(url, root / "postgresql", sizes)
    return results


# -- (7) event -> SSE client, the job on another host ------------------------------------

_EVENT_WRITER = """
import json, random, sys, time
from shipyard.store import open_database, transaction
from shipyard.store.events import NewEvent, append_events

url, job_id, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
database = open_database(url)
with database.connect():
    pass  # connected before the first event, as a job's process is
print("ready", flush=True)
sys.stdin.readline()
rng = random.Random(5)
committed = {}
for index in range(count):
    time.sleep(rng.uniform(0.01, 0.15))  # events at random phases of the server's poll
    with transaction(database) as session:
        event = NewEvent("engine.diagnostic", f"line {index}", data={"i": index})
        append_events(session.connection(), job_id, [event])
    committed[index + 1] = time.time()
print(json.dumps(committed), flush=True)
"""


def listeners(database: Engine) -> int:
    """Connections listening for job events (the API's listener)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'shipyard-listen' AND query LIKE 'LISTEN %'"
    )
    with database.connect() as connection:
        return int(connection.execute(query).scalar_one())


def sse_other_process(
    settings: Settings, database: Engine, events: int, *, listen: bool
) -> dict[str, Any]:
    """Commit in another process -> SSE client (wall clocks of one machine). ``listen``:
    the server's default (PostgreSQL's NOTIFY wakes the stream); else its poll finds it."""
    with transaction(database) as session:
        stack = session.scalars(sa.select(models.Stack).limit(1)).one()
        job = enqueue(session, JobKind.deploy, stack.key)
        deployment = models.Deployment(
            stack_id=stack.id, job_id=job.id, tag="sse", status=DeploymentStatus.running
        )
        session.add(deployment)
        session.flush()
        job_id, deployment_id = job.id, deployment.id
    url = database.url.render_as_string(hide_password=False)
    writer = subprocess.Popen(
        [sys.executable, "-c", _EVENT_WRITER, url, str(job_id), str(events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    options = EventStreamOptions(listen=listen)
    arrived: dict[int, float] = {}
    connected = threading.Event()
    try:
        with running_server(create_app(settings, event_stream=options)) as server:
            token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            client = httpx.Client(base_url=server, headers=headers, trust_env=False)

            def read() -> None:
                path = f"/api/v1/deployments/{deployment_id}/events"
                with client.stream("GET", path, timeout=DEADLINE_S) as response:
                    for line in response.iter_lines():
                        if line.startswith("retry:"):
                            connected.set()
                        elif line.startswith("id: "):
                            arrived[int(line.removeprefix("id: "))] = time.time()
                        elif line == "event: end":
                            return

            reader = threading.Thread(target=read)
            reader.start()
            if not connected.wait(60):
                raise SystemExit("the SSE client did not connect")
            if listen:
                wait_until(lambda: listeners(database) == 1, "the API's LISTEN connection", 60)
            if writer.stdout.readline().strip() != "ready":
                raise SystemExit("the event writer did not start")
            time.sleep(0.5)  # the stream's first read and wait
            writer.stdin.write("go\n")
            writer.stdin.flush()
            committed = {int(k): v for k, v in json.loads(writer.stdout.readline()).items()}
            wait_until(lambda: len(arrived) >= events, "every event at the SSE client", 60)
            with transaction(database) as session:
                row = session.get_one(models.Deployment, deployment_id)
                row.status = DeploymentStatus.succeeded
                append_event(session, job_id, "end", "done")
            reader.join(60)
            client.close()
    finally:
        writer.wait(60)
    return percentiles([(arrived[seq] - at) * 1000 for seq, at in committed.items()])


def event_to_sse(root: Path, sizes: Sizes) -> dict[str, Any]:
    with throwaway_cluster() as cluster, cluster.database() as url:
        settings = Settings(data_dir=root, database_url=url)
        database = open_database(settings)
        try:
            upgrade(database)
            bulk_insert(database, 10, 1)
            polled = sse_other_process(settings, database, sizes.sse_events, listen=False)
            notified = sse_other_process(settings, database, sizes.sse_events, listen=True)
        finally:
            database.dispose()
    return {
        "what": "PostgreSQL: from the commit of an event by another process (its own "
        "connection, as a job's process on a worker host) to its line at a connected SSE "
        "client of the API (uvicorn in this process), events at random 10-150 ms "
        "intervals; polled_ms: the stream finds it on its poll (0.05 s, the server with "
        "listen=False: before); notified_ms: the database's NOTIFY wakes it (the "
        "default: after)",
        "polled_ms": polled,
        "notified_ms": notified,
        "goal_p95_ms_max": GOALS["event_to_sse_other_host_p95_ms_max"],
        "load_after": load(),
    }


# -- (8) the API at 100k components and 1M deployments ---------------------------------

PLANS = {
    "GET /api/v1/components?limit=50&offset=N (a plain OFFSET: before)": (
        "SELECT * FROM components ORDER BY namespace, name LIMIT 50 OFFSET :last_page"
    ),
    "GET /api/v1/components?limit=50&after=namespace/name": (
        "SELECT * FROM components WHERE (namespace, name) > ('default', :after) "
        "ORDER BY namespace, name LIMIT 51"
    ),
    "GET /api/v1/deployments/{id}": "SELECT * FROM deployments WHERE id = :deployment",
}


def statement_of(database: Engine, read: Callable[[Session], object]) -> tuple[str, Any]:
    """The last SQL statement and parameters that ``read`` sends, as the driver gets them."""
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        sent.append((args[2], args[3]))  # (connection, cursor, statement, parameters, ...)

    sa.event.listen(database, "before_cursor_execute", record)
    try:
        with transaction(database, read_only=True) as session:
            read(session)
    finally:
        sa.event.remove(database, "before_cursor_execute", record)
    return sent[-1]


def query_plans(database: Engine, sizes: Sizes, deployment: int) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the statements behind the routes, at their worst parameters; the
    offset page's is the statement ``list_components`` sends (the route's, limit + 1)."""
    found = {}
    last_page = max(sizes.scale_components - 50, 0)
    params = {"last_page": last_page, "after": f"svc-{last_page:05d}", "deployment": deployment}
    offset_page = statement_of(
        database, lambda session: list_components(session, offset=last_page, limit=51)
    )
    with database.connect() as connection:
        statement, sent = offset_page
        rows = connection.exec_driver_sql(f"EXPLAIN ANALYZE {statement}", sent)
        found["GET /api/v1/components?limit=50&offset=N"] = [row[0] for row in rows]
        for route, text in PLANS.items():
            rows = connection.execute(sa.text(f"EXPLAIN ANALYZE {text}"), params)
            found[route] = [row[0] for row in rows]
    return found


def visible_pages(connection: sa.Connection) -> tuple[int, int]:
    """The components table's pages marked all-visible, and its pages."""
    row = connection.execute(
        sa.text("SELECT relallvisible, relpages FROM pg_class WHERE relname = 'components'")
    ).one()
    return int(row[0]), int(row[1])


def api_scale(root: Path, sizes: Sizes) -> dict[str, Any]:
    scaled = replace(sizes, components=sizes.scale_components)
    with throwaway_cluster() as cluster, cluster.database() as url:
        settings = Settings(data_dir=root, database_url=url)
        database = open_database(settings)
        try:
            upgrade(database)
            started = time.perf_counter()
            ids = bulk_insert(database, scaled.components, scaled.deployments_per_component)
            inserted_s = time.perf_counter() - started
            autocommit = database.connect().execution_options(isolation_level="AUTOCOMMIT")
            with autocommit as connection:  # as autovacuum leaves a table after its inserts
                # The throwaway server commits asynchronously (synchronous_commit=off);
                # until the inserts' commit is flushed, VACUUM can neither set the rows'
                # hint bits nor mark a page all-visible, which the offset page's
                # index-only scan needs. A synchronous commit, the default in
                # production, flushes it first.
                connection.execute(sa.text("SET synchronous_commit = on"))
                connection.execute(sa.text("SELECT pg_current_xact_id()"))
                connection.execute(sa.text("VACUUM ANALYZE"))
                visible, pages = visible_pages(connection)
            with api_server(settings) as client:
                routes = time_routes(client, scaled, ids, keyset=True)
            plans = query_plans(database, scaled, ids[1])
        finally:
            database.dispose()
    return {
        "what": "PostgreSQL, the routes of api_latency (same client, order and warm-up) "
        "at 10 times its rows (seeded, then VACUUM ANALYZE as autovacuum would), plus the "
        "components' keyset pages (after=namespace/name at random depths); plans: EXPLAIN "
        "ANALYZE of the statements behind the list and read routes at the deepest page",
        "rows": {
            "components": scaled.components,
            "deployments": scaled.components * scaled.deployments_per_component,
            "insert_s": round(inserted_s, 1),
            "components_pages_all_visible": f"{visible}/{pages}",
        },
        "routes_ms": routes,
        "worst_p99_ms": max(r["p99"] for r in routes.values()),
        "goal_p99_ms_max": GOALS["api_scale_p99_ms_max"],
        "plans": plans,
        "load_after": load(),
    }


# -- (6) idle server --------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kb(pid: int) -> tuple[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["Name"].strip(), int(fields.get("VmRSS", "0 kB").split()[0])


def idle_rss(root: Path, settle_s: float) -> dict[str, Any]:
    shipyard = Path(sys.executable).parent / "shipyard"
    data = root / "serve"
    command = [str(shipyard), "serve", "--port", "0", "--data-dir", str(data), "--workers", "1"]
    env = {**os.environ, "SHIPYARD_CACHE_DIR": str(root / "serve-cache")}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as server:
        try:
            config = data / "client.json"

            def healthy() -> bool:
                if server.poll() is not None:
                    raise SystemExit(f"shipyard serve exited {server.returncode}")
                if not config.exists():
                    return False
                url = json.loads(config.read_text())["server"]
                try:
                    return httpx.get(f"{url}/healthz", trust_env=False).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, "shipyard serve to answer /healthz", 120)
            time.sleep(settle_s)  # idle is the point: the measure is taken after this quiet
            name, own = rss_kb(server.pid)
            children = [rss_kb(pid) for pid in descendants(server.pid)]
        finally:
            server.terminate()
            server.wait(60)
    return {
        "what": f"VmRSS from /proc/PID/status of `shipyard serve --workers 1` (SQLite), "
        f"{settle_s:g} s after /healthz answered; alone, and summed with its descendants",
        "server_mb": round(own / 1024, 1),
        "with_children_mb": round((own + sum(kb for _, kb in children)) / 1024, 1),
        "children": [{"name": n, "mb": round(kb / 1024, 1)} for n, kb in children],
        "process": name,
    }


# -- the report -------------------------------------------------------------------------


def summary(report: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if "deploy_vs_sdk_up" in report:
        for key in ("deploy_vs_sdk_up", "deploy_vs_engine_up", "engine_vs_sdk_up"):
            found[f"{key}_ratio"] = report[key]["median_ratio"]
            found[f"{key}_ratio_ci95"] = report[key]["median_ratio_ci95"]
        found["unchanged_deploy_p95_s"] = report["unchanged_deploy"]["p95_s"]
    if "worker_scaling" in report:
        found["worker_speedup"] = report["worker_scaling"]["speedup"]
    if "api_latency" in report:
        for database in ("sqlite", "postgresql"):
            api = report["api_latency"][database]
            found[f"api_p99_ms_{database}"] = api["worst_p99_ms"]
            found[f"event_to_sse_p95_ms_{database}"] = api["event_to_sse_ms"]["p95"]
            found[f"event_to_sse_woken_p95_ms_{database}"] = api["event_to_sse_woken_ms"]["p95"]
    if "event_to_sse" in report:
        found["event_to_sse_other_host_polled_p50_ms"] = report["event_to_sse"]["polled_ms"]["p50"]
        found["event_to_sse_other_host_polled_p95_ms"] = report["event_to_sse"]["polled_ms"]["p95"]
        found["event_to_sse_other_host_p50_ms"] = report["event_to_sse"]["notified_ms"]["p50"]
        found["event_to_sse_other_host_p95_ms"] = report["event_to_sse"]["notified_ms"]["p95"]
    if "api_scale" in report:
        scale = report["api_scale"]
        found["api_scale_p99_ms_postgresql"] = scale["worst_p99_ms"]
        for route, stats in scale["routes_ms"].items():
            found[f"api_scale_p99_ms {route}"] = stats["p99"]
    if "idle_rss" in report:
        found["idle_rss_mb"] = report["idle_rss"]["server_mb"]
        found["idle_rss_with_children_mb"] = report["idle_rss"]["with_children_mb"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--part",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); all of them by default",
    )
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sizes = Sizes.of(args.quick)
    parts = args.part or list(PARTS)
    report: dict[str, Any] = {
        "benchmark": "control_plane",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_at_start": load(),
        "sizes": sizes.__dict__,
        "parts": parts,
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-cp-") as tmp:
        root = Path(tmp)
        if "idle_rss" in parts:
            report["idle_rss"] = idle_rss(root, 1.0 if args.quick else 5.0)
        if "api_latency" in parts:
            report["api_latency"] = api_latency(root / "api", sizes)
        if "event_to_sse" in parts:
            report["event_to_sse"] = event_to_sse(root / "sse", sizes)
        if "api_scale" in parts:
            report["api_scale"] = api_scale(root / "scale", sizes)
        if "deploys" in parts:
            report.update(deploys(root / "deploys", sizes))
        if "worker_scaling" in parts:
            report["worker_scaling"] = worker_scaling(root / "workers", sizes)
    report["load_at_end"] = load()
    report["summary"] = summary(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
