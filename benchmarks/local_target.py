"""Benchmark the local target: git tag pushed -> the service answers the new version.

Everything is real: a git repository with a ``FROM scratch`` busybox image, the tag
watcher polling at the product's default interval for a local repository (unless
``--poll-interval``), the image build, the Pulumi ``up`` through the engine, the new
revision's health check and the Caddy switch. Each round pushes one tag and times it
until the stable URL answers that tag (pushed at a random moment of the watcher's
interval); that critical path is split into polling, build, container start, health
checks, the route switch and Pulumi (the rest: the engine's start-up, plan and state
writes). What follows the answer (removing the old revision, Pulumi finishing) is
reported apart.

    uv run --frozen python benchmarks/local_target.py --output benchmarks/results/local_target.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from shipyard.catalog import load_components, load_platform, resolve
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings
from shipyard.targets.local.flow import LocalDeployment, LocalTarget
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.trigger import LOCAL_POLL_INTERVAL_S, BuildRequested, TagWatcher

GOAL_S = 10.0
BENCH_LABEL = "shipyard.dev/bench-run"
DEADLINE_S = 120.0

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - {name: dev, target: local, autoDeploy: true}
templates:
  - {name: web, default: true, settings: {tag-pattern: '^v\\d+$', cpu: 500m, memory: 64Mi}}
"""
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: bench}
containers:
  main:
    image: .
    readinessProbe: {httpGet: {path: /version, port: 8080}}
service:
  ports:
    http: {port: 80, targetPort: 8080}
"""
CATALOG_INFO = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations: {{shipyard.dev/source: '{source}'}}
spec: {{type: service, lifecycle: experimental, owner: bench}}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@shipyard.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    shutil.copy("/bin/busybox", path / "busybox")
    (path / "www").mkdir()
    (path / "Dockerfile").write_text(DOCKERFILE)


def push_tag(repo: Path, tag: str) -> None:
    (repo / "www" / "version").write_text(tag)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", tag)
    git(repo, "tag", tag)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_answer(url: str, text: str) -> float:
    """Poll ``url`` until it answers ``text``; the monotonic time it first did."""
    deadline = time.monotonic() + DEADLINE_S
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200 and response.text == text:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            time.sleep(0.01)  # a poll interval, bounded by the deadline
    raise SystemExit(f"{url} did not answer {text!r} within {DEADLINE_S} s")


class Recorder:
    """The watcher's callback: build and deploy, noting when the tag was seen."""

    def __init__(self, target: LocalTarget, environments: list[Any]) -> None:
        self.target = target
        self.environments = environments
        self.seen: dict[str, float] = {}
        self.deployed: dict[str, LocalDeployment] = {}
        self.errors: list[str] = []

    def __call__(self, event: BuildRequested) -> None:
        self.seen[event.tag] = time.monotonic()
        try:
            [deployment] = self.target.on_build_requested(event, self.environments)
        except Exception as exc:  # the benchmark's edge: recorded, then reported
            self.errors.append(f"{event.tag}: {exc}")
            raise
        self.deployed[event.tag] = deployment


def round_result(tag: str, pushed: float, answered: float, recorder: Recorder) -> dict[str, Any]:
    deployment = recorder.deployed[tag]
    provider = {key: round(value, 3) for key, value in deployment.timings.items()}
    up_s = deployment.operation.duration_s
    total = answered - pushed
    parts = {
        "polling_s": recorder.seen[tag] - pushed,
        "build_s": deployment.build_s,
        "container_start_s": deployment.timings.get("start", 0.0),
        "health_s": deployment.timings.get("health", 0.0),
        "switch_s": deployment.timings.get("switch", 0.0),
    }
    # The rest of the critical path: the engine's start-up, plan and state writes before
    # the provider switched the route (the old revision's removal comes after the answer).
    parts["pulumi_s"] = total - sum(parts.values())
    return {
        "tag": tag,
        "revision": deployment.revision,
        "tag_to_answer_s": round(total, 3),
        "revision_switch_s": round(
            sum(deployment.timings.get(k, 0.0) for k in ("start", "health", "switch")), 3
        ),
        "deploy_s": round(total - parts["polling_s"], 3),
        "up_s": round(up_s, 3),
        "after_answer_s": {
            "cleanup": round(deployment.timings.get("cleanup", 0.0), 3),
            "pulumi_rest": round(up_s - sum(deployment.timings.values()) - parts["pulumi_s"], 3),
        },
        "parts_s": {key: round(value, 3) for key, value in parts.items()},
        "shares": {key.removesuffix("_s"): round(value / total, 3) for key, value in parts.items()},
        "provider_timings_s": provider,
    }


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    totals = [r["tag_to_answer_s"] for r in rounds]
    deploys = [r["deploy_s"] for r in rounds]
    switches = [r["revision_switch_s"] for r in rounds]
    keys = rounds[0]["parts_s"].keys()
    return {
        "tag_to_answer_s": {"median": statistics.median(totals), "max": max(totals)},
        "deploy_s": {"median": statistics.median(deploys), "max": max(deploys)},
        "revision_switch_s": {"median": statistics.median(switches), "max": max(switches)},
        "shares_median": {
            key.removesuffix("_s"): statistics.median(
                r["shares"][key.removesuffix("_s")] for r in rounds
            )
            for key in keys
        },
        "goal_s": GOAL_S,
        "goal_met": max(totals) <= GOAL_S,
    }


def run(rounds: int, poll_interval: float | None, root: Path) -> dict[str, Any]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    repo = root / "repo"
    make_repo(repo)
    catalog = root / "catalog"
    catalog.mkdir()
    (catalog / "platform.yaml").write_text(PLATFORM)
    (catalog / "score.yaml").write_text(SCORE)
    (catalog / "catalog-info.yaml").write_text(CATALOG_INFO.format(name=name, source=repo))
    (component,) = load_components(catalog / "catalog-info.yaml")
    desired = resolve(component, "dev", load_platform(catalog / "platform.yaml"))

    with Proxy(root / "data" / "local", admin_address=f"127.0.0.1:{free_port()}") as caddy:
        settings = Settings(
            data_dir=root / "data",
            cache_dir=root / "cache",
            pulumi=ensure_pulumi(Settings()).path,
            proxy_admin_url=caddy.admin_url,
            tag_poll_interval=poll_interval,
            backend_url=None,
            secrets_provider=None,
            registry=None,
        )
        labels = {BENCH_LABEL: name}
        with LocalTarget.from_settings(settings, labels=labels) as target:
            url = target.provision(desired).url
            recorder = Recorder(target, [desired])
            watcher = TagWatcher.from_settings(
                settings, desired.component, str(repo), desired.tag_pattern, recorder
            )
            results = []
            stop = threading.Event()
            thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
            thread.start()
            try:
                for number in range(1, rounds + 1):
                    tag = f"v{number}"
                    # a push lands anywhere in the watcher's interval, not just after a poll
                    time.sleep(random.uniform(0, watcher.interval_s))
                    pushed = time.monotonic()
                    push_tag(repo, tag)
                    answered = wait_for_answer(f"{url}/version", tag)
                    deadline = time.monotonic() + DEADLINE_S
                    while tag not in recorder.deployed and time.monotonic() < deadline:
                        time.sleep(0.01)  # the deploy returns just after the switch
                    if recorder.errors:
                        raise SystemExit("; ".join(recorder.errors))
                    results.append(round_result(tag, pushed, answered, recorder))
            finally:
                stop.set()
                thread.join(timeout=DEADLINE_S)
                target.destroy(desired, remove_images=True)
    return {"url_component": desired.component, "rounds": results, "summary": summary(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--rounds", type=int, default=3, help="tags pushed, one per round")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help=f"tag watcher interval, seconds (default: the product's {LOCAL_POLL_INTERVAL_S:g})",
    )
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-local-") as tmp:
        result = run(args.rounds, args.poll_interval, Path(tmp))
    report = {
        "benchmark": "local_target",
        "command": [sys.executable, *sys.argv],
        "started_at": started,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "poll_interval_s": args.poll_interval or LOCAL_POLL_INTERVAL_S,
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
