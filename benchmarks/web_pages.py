"""Benchmark of the Web UI's pages with a large catalog: a real uvicorn server on
127.0.0.1 holding 10,000 components, each deployed to two environments with five
deployments per stack (100,000 deployments, bulk-inserted with SQLAlchemy core), on
SQLite. A browser's session (signed in with the admin token) requests:

- ``components_first``: ``GET /`` (the first page of 50, each environment's state);
- ``components_deep``: ``GET /?page=150`` (an offset of 7,450);
- ``components_search``: ``GET /?q=svc-0999`` (a search over names, namespaces, owners);
- ``components_owner``: ``GET /?owner=group:default/team-7`` (an exact owner);
- ``component``: ``GET /components/bulk/svc-05000`` (its stacks, tags, history).

Each is timed over ``--rounds`` requests (after two warm-up ones); the report gives the
median and p99 in milliseconds.

    uv run --frozen python benchmarks/web_pages.py --output benchmarks/results/web_pages.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from shipyard.clock import utc_now
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction
from shipyard.store.enums import DeploymentStatus
from shipyard.testing.api import serve_api
from shipyard.testing.samples import write_platform

COMPONENTS = 10_000
DEPLOYMENTS_PER_STACK = 5
PAGES = {
    "components_first": "/",
    "components_deep": "/?page=150",
    "components_search": "/?q=svc-0999",
    "components_owner": "/?owner=group:default/team-7",
    "component": "/components/bulk/svc-05000",
}


def _fill(database: Any) -> None:
    now = utc_now()
    with transaction(database) as session:
        environments = {e.name: e.id for e in session.scalars(select(models.Environment))}
        session.execute(
            insert(models.Component),
            [
                {
                    "namespace": "bulk",
                    "name": f"svc-{n:05d}",
                    "owner": f"group:default/team-{n % 20}",
                    "descriptor": {},
                }
                for n in range(COMPONENTS)
            ],
        )
        ids = session.scalars(select(models.Component.id).order_by(models.Component.id)).all()
        stacks = []
        for component_id in ids:
            for name, environment_id in environments.items():
                stacks.append(
                    {
                        "key": f"{component_id}/{name}",
                        "component_id": component_id,
                        "environment_id": environment_id,
                        "project": f"p{component_id}",
                        "stack_name": name,
                        "url": f"http://svc-{component_id}.{name}.localhost",
                    }
                )
        session.execute(insert(models.Stack), stacks)
        stack_rows = session.execute(
            select(models.Stack.id, models.Stack.component_id, models.Stack.environment_id)
        ).all()
        releases = [
            {
                "component_id": component_id,
                "environment_id": environment_id,
                "tag": "v1",
                "image": "localhost/x:v1",
                "image_digest": "sha256:" + "0" * 64,
                "desired_state": {},
                "desired_state_hash": f"{stack_id:064d}",
            }
            for stack_id, component_id, environment_id in stack_rows
        ]
        session.execute(insert(models.Release), releases)
        release_of = {
            (component_id, environment_id): release_id
            for release_id, component_id, environment_id in session.execute(
                select(
                    models.Release.id, models.Release.component_id, models.Release.environment_id
                )
            )
        }
        session.execute(
            insert(models.Deployment),
            [
                {
                    "stack_id": stack_id,
                    "release_id": release_of[(component_id, environment_id)],
                    "tag": f"v{k}",
                    "status": DeploymentStatus.succeeded,
                    "reason": "deploy",
                    "created_at": now - timedelta(minutes=DEPLOYMENTS_PER_STACK - k),
                    "started_at": now - timedelta(minutes=DEPLOYMENTS_PER_STACK - k),
                    "finished_at": now - timedelta(minutes=DEPLOYMENTS_PER_STACK - k),
                }
                for stack_id, component_id, environment_id in stack_rows
                for k in range(DEPLOYMENTS_PER_STACK)
            ],
        )
        session.execute(
            models.Stack.__table__.update().values(
                current_release_id=select(models.Release.id)
                .where(models.Release.component_id == models.Stack.component_id)
                .where(models.Release.environment_id == models.Stack.environment_id)
                .scalar_subquery()
            )
        )


def _sign_in(client: httpx.Client, token: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    response = client.post("/login", data={"token": token, "login_csrf": csrf.group(1)})
    assert response.status_code == 303, response.text


def measure(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'shipyard.db'}"
        settings = Settings(
            data_dir=root / "data",
            cache_dir=root / "cache",
            database_url=url,
            platform=write_platform(root / "platform.yaml"),
        )
        database = open_database(url)
        results: dict[str, Any] = {}
        try:
            with serve_api(settings, database) as api:
                began = time.perf_counter()
                _fill(database)
                results["fill_s"] = round(time.perf_counter() - began, 1)
                with httpx.Client(base_url=api.url, timeout=60, trust_env=False) as client:
                    _sign_in(client, api.token)
                    for name, path in PAGES.items():
                        timings = []
                        for i in range(rounds + 2):
                            start = time.perf_counter()
                            response = client.get(path)
                            elapsed = time.perf_counter() - start
                            assert response.status_code == 200, (path, response.status_code)
                            if i >= 2:
                                timings.append(elapsed * 1000)
                        timings.sort()
                        results[name] = {
                            "median_ms": round(statistics.median(timings), 1),
                            "p99_ms": round(
                                timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1
                            ),
                            "bytes": len(response.content),
                        }
        finally:
            database.dispose()
        return {
            "components": COMPONENTS,
            "deployments": COMPONENTS * 2 * DEPLOYMENTS_PER_STACK,
            "database": "sqlite",
            "rounds": rounds,
            **results,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report = measure(args.rounds)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
