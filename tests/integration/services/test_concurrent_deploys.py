"""50 concurrent deploy requests on one stack, through the API, run by two workers.

Every request is ``force: true`` and the tags alternate v1/v2, so each of the 50 jobs is a
real ``pulumi up`` rather than an ``unchanged`` no-op, and every change of tag between two
consecutive jobs is a revision switch: the test is about the per-stack serialisation,
which only real, seconds-long runs put under pressure. The requests race, so "the last
requested" is the last one the API recorded (the highest id).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from plane_world import ControlPlane, open_control_plane
from sqlalchemy import select

from shipyard.jobs import JobState
from shipyard.store import models, transaction
from shipyard.store.enums import DeploymentStatus

pytestmark = pytest.mark.integration

REQUESTS = 50
_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}


@pytest.fixture
def two_worker_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with open_control_plane(tmp_path, workers=2) as plane:
        yield plane


def _deploy_all_at_once(plane: ControlPlane, tags: list[str]) -> list[httpx.Response]:
    """One thread and one HTTP client per request, released together by a barrier."""
    barrier = threading.Barrier(len(tags))
    path = f"/api/v1/components/default/{plane.name}/deployments"
    headers = {"Authorization": f"Bearer {plane.api.token}"}

    def request(tag: str) -> httpx.Response:
        with httpx.Client(base_url=plane.api.url, headers=headers, timeout=120) as client:
            barrier.wait(timeout=60)
            return client.post(path, json={"environment": "dev", "tag": tag, "force": True})

    with ThreadPoolExecutor(max_workers=len(tags)) as pool:
        return list(pool.map(request, tags))


def _deploy_rows(plane: ControlPlane) -> list[tuple[models.Deployment, models.Job]]:
    with transaction(plane.api.database, read_only=True) as session:
        query = (
            select(models.Deployment, models.Job)
            .join(models.Job, models.Job.id == models.Deployment.job_id)
            .where(models.Deployment.reason == "deploy")
            .order_by(models.Deployment.id)
        )
        rows = [(deployment, job) for deployment, job in session.execute(query)]
        session.expunge_all()
        return rows


@pytest.mark.timeout(1200)
def test_fifty_concurrent_deploys_run_one_at_a_time_and_the_last_one_wins(
    two_worker_plane: ControlPlane, wait_for: Any
) -> None:
    plane = two_worker_plane
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    plane.release("v1")
    plane.release("v2")
    tags = ["v1" if index % 2 == 0 else "v2" for index in range(REQUESTS)]

    responses = _deploy_all_at_once(plane, tags)

    assert [r.status_code for r in responses] == [202] * REQUESTS, [
        r.text for r in responses if r.status_code != 202
    ]
    assert {r.json()["status"] for r in responses} == {"queued"}
    # A job finishes just after its deployment: the handler settles the deployment, then
    # the worker records the job's outcome.
    wait_for(
        lambda: all(
            d.status.value in _FINISHED and job.finished_at is not None
            for d, job in _deploy_rows(plane)
        ),
        f"{REQUESTS} deployments and their jobs to finish",
        REQUESTS * 15,  # ~2-4 s each; up to ~7 s on a loaded 2-core machine
    )
    rows = _deploy_rows(plane)
    succeeded = DeploymentStatus.succeeded
    assert len(rows) == REQUESTS
    assert sorted(d.id for d, _ in rows) == sorted(r.json()["id"] for r in responses)
    failed = [(d.id, d.status, d.error) for d, _ in rows if d.status is not succeeded]
    assert failed == []
    assert {(job.state, job.attempts, job.error) for _, job in rows} == {
        (JobState.succeeded, 1, None)
    }

    # Strictly one at a time, in the order the requests were recorded, by both workers.
    jobs = [job for _, job in rows]
    assert [job.id for job in jobs] == sorted(job.id for job in jobs)
    for earlier, later in itertools.pairwise(jobs):
        assert earlier.started_at is not None and earlier.finished_at is not None
        assert later.started_at is not None
        assert earlier.finished_at <= later.started_at, (earlier.id, later.id)
    assert len({job.worker_id for job in jobs}) == 2, {job.worker_id for job in jobs}

    # Real ups: every change of tag switched to a new revision container.
    switches = sum(1 for (a, _), (b, _) in itertools.pairwise(rows) if a.tag != b.tag)
    assert switches >= 5
    for (before, before_job), (after, after_job) in itertools.pairwise(rows):
        assert before_job.result is not None and after_job.result is not None
        grew = after_job.result["revision"] - before_job.result["revision"]
        assert grew > 0 if after.tag != before.tag else grew >= 0, (before.id, after.id)

    # The last request recorded is the release that runs, and the stack says so.
    last, _ = rows[-1]
    assert last.url is not None
    assert plane.answer(last.url) == last.tag
    with transaction(plane.api.database, read_only=True) as session:
        stack = session.get_one(models.Stack, last.stack_id)
        assert stack.current_release_id == last.release_id
        assert stack.outputs["tag"] == last.tag
