"""Benchmark webhooks in: git tag pushed -> the service answers the new version, by webhook.

``shipyard serve`` in a process of its own (API, one worker, the tag watchers at the
product's defaults), a real git repository, Caddy and the local target. The component
gets its own webhook secret (``PUT .../webhook-secret``). Each round commits and tags
``vN``, posts a Standard Webhooks-signed ``POST /api/v1/hooks/generic``
``{"repository": <the repository>, "tag": "vN"}`` at once (as a git server's hook
would), and times the push until the stable URL answers ``vN``. The webhook's answer says
which path requested the tag: ``queued`` (the webhook) or ``already-requested`` (the
tag watcher, polling every 5 s, saw it first); the median is over the webhook's rounds.
A first round provisions the service and builds the base layers; it is not counted.

    uv run --frozen python benchmarks/webhooks.py --output benchmarks/results/webhooks.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/integration/services"))
from plane_world import PLATFORM, ControlPlane, open_control_plane

GOAL_MEDIAN_S = 4.0
TAG_PATTERN = r"^v\d+$"
BENCH_PLATFORM = PLATFORM.replace("tag-pattern: '^v\\\\d+$'", f"tag-pattern: '{TAG_PATTERN}'")
"""The test plane's platform with a tag pattern ``vN`` matches (an autoDeploy follows it)."""
DEADLINE_S = 300.0


def signed_hook(plane: ControlPlane, secret: str, tag: str) -> dict[str, Any]:
    body = json.dumps({"repository": str(plane.repo), "tag": tag})
    message_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
    response = httpx.post(
        f"{plane.api.url}/api/v1/hooks/generic",
        content=body,
        headers=headers,
        timeout=30,
        trust_env=False,
    )
    if response.status_code != 202:
        raise SystemExit(f"webhook for {tag}: {response.status_code} {response.text}")
    found: dict[str, Any] = response.json()
    return found


def stable_url(plane: ControlPlane) -> str | None:
    detail = plane.api.client.get(f"/api/v1/components/default/{plane.name}").json()
    for environment in detail.get("environments", []):
        if environment.get("environment") == "dev" and environment.get("url"):
            return str(environment["url"])
    return None


def wait_for_answer(plane: ControlPlane, tag: str) -> float:
    """The monotonic time the stable URL first answered ``tag``."""
    deadline = time.monotonic() + DEADLINE_S
    url: str | None = None
    while time.monotonic() < deadline:
        url = url or stable_url(plane)
        if url is not None:
            try:
                if plane.answer(url) == tag:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
        time.sleep(0.01)  # a poll interval, bounded by the deadline
    raise SystemExit(f"the service did not answer {tag!r} within {DEADLINE_S} s")


def one_round(plane: ControlPlane, secret: str, tag: str) -> dict[str, Any]:
    pushed = time.monotonic()
    plane.release(tag)
    answer = signed_hook(plane, secret, tag)
    hooked = time.monotonic()
    answered = wait_for_answer(plane, tag)
    [component] = answer["components"]
    found: dict[str, Any] = {
        "tag": tag,
        "requested_by": "webhook" if component["status"] == "queued" else "poller",
        "webhook_status": component["status"],
        "webhook_answer_s": round(hooked - pushed, 3),
        "tag_to_answer_s": round(answered - pushed, 3),
    }
    if component["deployments"]:  # where the deployment's time went, from its record
        # and the next round starts once it has ended (no push waits behind the last one's
        # clean-up in the stack's lane)
        path = f"/api/v1/deployments/{component['deployments'][0]}"
        deadline = time.monotonic() + DEADLINE_S
        body = plane.api.client.get(path).json()
        while body["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)  # a poll interval, bounded by the deadline
            body = plane.api.client.get(path).json()
        found["deployment_status"] = body["status"]
        found["deployment_s"] = {
            "queued": _between(body, "created_at", "started_at"),
            "running_until_finished": _between(body, "started_at", "finished_at"),
        }
    return found


def _between(body: dict[str, Any], start: str, end: str) -> float | None:
    if not body.get(start) or not body.get(end):
        return None
    return round(
        (datetime.fromisoformat(body[end]) - datetime.fromisoformat(body[start])).total_seconds(), 3
    )


def run(rounds: int, root: Path) -> dict[str, Any]:
    assert TAG_PATTERN in BENCH_PLATFORM
    with open_control_plane(root, platform=BENCH_PLATFORM, served=True) as plane:
        client = plane.api.client
        registered = client.post("/api/v1/components", json={"path": str(plane.catalog)})
        if registered.status_code != 201:
            raise SystemExit(f"register: {registered.text}")
        made = client.put(f"/api/v1/components/default/{plane.name}/webhook-secret")
        if made.status_code != 200:
            raise SystemExit(f"webhook secret: {made.text}")
        secret = made.json()["secret"]
        warm_up = one_round(plane, secret, "v1")
        results = [one_round(plane, secret, f"v{number}") for number in range(2, rounds + 2)]
    by_webhook = [r["tag_to_answer_s"] for r in results if r["requested_by"] == "webhook"]
    every = [r["tag_to_answer_s"] for r in results]
    median = statistics.median(by_webhook) if by_webhook else None
    return {
        "warm_up": warm_up,
        "rounds": results,
        "summary": {
            "tag_to_answer_by_webhook_s": {
                "median": median,
                "max": max(by_webhook) if by_webhook else None,
                "rounds": len(by_webhook),
            },
            "tag_to_answer_all_rounds_s": {"median": statistics.median(every), "max": max(every)},
            "goal_median_s": GOAL_MEDIAN_S,
            "goal_met": median is not None and median <= GOAL_MEDIAN_S,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--rounds", type=int, default=5, help="measured tags, one per round")
    args = parser.parse_args()
    started = time.time()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-webhooks-") as tmp:
        result = run(args.rounds, Path(tmp))
    report = {
        "benchmark": "webhooks",
        "command": [sys.executable, *sys.argv],
        "started_at": started,
        "python": platform.python_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1_5_15_before": load_before,
            "load_average_1_5_15_after": os.getloadavg(),
        },
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
