"""The read routes the Web UI needs: a component's history, its known tags, a preview's
diff and each environment's health, through the real API."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import BuildStatus, DeploymentStatus
from shipyard.store.events import append_event
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.samples import write_component, write_platform

COMPONENT = "/api/v1/components/default/orders-api"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@t.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository tagged v1.0.0, nightly (no match for the pattern), then v1.2.0."""
    repo = tmp_path / "src" / "orders"
    repo.mkdir(parents=True)
    _git(repo, "init", "--quiet", "-b", "main")
    for number, tag in enumerate(["v1.0.0", "nightly", "v1.2.0"]):
        (repo / "file").write_text(tag)
        _git(repo, "add", "file")
        # Distinct commit (and tag) dates, one day apart: the order is by date.
        date = f"2026-01-0{number + 1}T12:00:00+00:00"
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@t.invalid", "commit", "-qm", tag],
            cwd=repo,
            check=True,
            env={"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date, "PATH": "/usr/bin:/bin"},
        )
        _git(repo, "tag", tag)
    return repo


@pytest.fixture
def history_api(tmp_path: Path, database: Engine, repo: Path) -> Iterator[Api]:
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=database.url.render_as_string(hide_password=False),
        platform=write_platform(tmp_path / "platform.yaml"),
        source_roots=[tmp_path],
    )
    with serve_api(settings, database) as api:
        write_component(tmp_path / "orders", "orders-api", source=repo)
        registered = api.client.post("/api/v1/components", json={"path": str(tmp_path / "orders")})
        assert registered.status_code == 201, registered.text
        yield api


def _deploy(api: Api, environment: str, tag: str) -> dict[str, Any]:
    response = api.client.post(
        f"{COMPONENT}/deployments", json={"environment": environment, "tag": tag}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _finish(api: Api, deployment_id: int, status: DeploymentStatus, **kw: Any) -> None:
    """What the worker does at the end of a job (a release for a success)."""
    with transaction(api.database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        if status is DeploymentStatus.succeeded and deployment.release_id is None:
            stack = session.get_one(models.Stack, deployment.stack_id)
            release = models.Release(
                component_id=stack.component_id,
                environment_id=stack.environment_id,
                tag=deployment.tag,
                image=f"localhost/orders-api:{deployment.tag}",
                image_digest="sha256:" + str(deployment_id).rjust(64, "0"),
                desired_state={},
                desired_state_hash=str(deployment_id).rjust(64, "0"),
            )
            session.add(release)
            session.flush()
            deployment.release_id = release.id
        set_deployment_status(session, deployment, status, **kw)


def test_the_history_is_newest_first_filtered_and_paginated(history_api: Api) -> None:
    api = history_api
    first = _deploy(api, "dev", "v1.0.0")
    _finish(api, first["id"], DeploymentStatus.succeeded, url="http://orders.dev.localhost")
    second = _deploy(api, "staging", "v1.0.0")
    _finish(api, second["id"], DeploymentStatus.failed, error="boom")
    third = _deploy(api, "dev", "v1.2.0")

    everything = api.client.get(f"{COMPONENT}/deployments").json()
    dev = api.client.get(f"{COMPONENT}/deployments", params={"environment": "dev"}).json()
    failed = api.client.get(f"{COMPONENT}/deployments", params={"status": "failed"}).json()
    page_one = api.client.get(f"{COMPONENT}/deployments", params={"limit": 2}).json()
    page_two = api.client.get(
        f"{COMPONENT}/deployments", params={"limit": 2, "offset": page_one["next_offset"]}
    ).json()

    assert [d["id"] for d in everything["items"]] == [third["id"], second["id"], first["id"]]
    assert everything["next_offset"] is None
    assert [d["id"] for d in dev["items"]] == [third["id"], first["id"]]
    assert [(d["id"], d["error"]) for d in failed["items"]] == [(second["id"], "boom")]
    assert [d["id"] for d in page_one["items"]] == [third["id"], second["id"]]
    assert page_one["next_offset"] == 2
    assert [d["id"] for d in page_two["items"]] == [first["id"]]
    assert page_two["next_offset"] is None


def test_the_history_refuses_what_it_cannot_answer(history_api: Api) -> None:
    api = history_api
    ghost = api.client.get("/api/v1/components/default/ghost/deployments")
    bad_status = api.client.get(f"{COMPONENT}/deployments", params={"status": "exploded"})
    bad_limit = api.client.get(f"{COMPONENT}/deployments", params={"limit": 0})

    assert assert_problem(ghost, 404)["detail"] == "component default/ghost not found"
    assert_problem(bad_status, 422)
    assert_problem(bad_limit, 422)
    with api.anonymous() as anonymous:
        assert_problem(anonymous.get(f"{COMPONENT}/deployments"), 401)


def test_each_environment_says_what_runs_there_and_how_healthy_it_was(history_api: Api) -> None:
    api = history_api
    running = _deploy(api, "dev", "v1.0.0")
    _finish(api, running["id"], DeploymentStatus.succeeded, url="http://orders.dev.localhost")
    broken = _deploy(api, "staging", "v1.0.0")
    _finish(api, broken["id"], DeploymentStatus.failed, error="never became healthy")

    environments = {
        env["environment"]: env for env in api.client.get(COMPONENT).json()["environments"]
    }

    dev, staging = environments["dev"], environments["staging"]
    assert (dev["current_tag"], dev["url"]) == ("v1.0.0", "http://orders.dev.localhost")
    assert dev["current_release"] is not None
    assert dev["last_deployment"]["id"] == running["id"]
    assert dev["health"]["status"] == "healthy"
    assert dev["health"]["checked_at"] == dev["last_deployment"]["finished_at"]
    assert staging["current_tag"] is None
    assert staging["health"]["status"] == "unhealthy"
    assert "failed" in staging["health"]["detail"]


def test_known_tags_are_newest_first_with_their_pattern_match_and_where_they_run(
    history_api: Api,
) -> None:
    api = history_api
    running = _deploy(api, "dev", "v1.0.0")
    _finish(api, running["id"], DeploymentStatus.succeeded, url="http://orders.dev.localhost")

    response = api.client.get(f"{COMPONENT}/tags")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["component"] == "default/orders-api"
    tags = {tag["tag"]: tag for tag in body["items"]}
    assert [tag["tag"] for tag in body["items"]] == ["v1.2.0", "nightly", "v1.0.0"]
    assert tags["v1.2.0"]["matches"] == {"dev": True, "staging": True}
    assert tags["nightly"]["matches"] == {"dev": False, "staging": False}
    assert tags["v1.0.0"]["environments"] == ["dev"]
    assert tags["v1.2.0"]["environments"] == []
    assert len(tags["v1.2.0"]["commit"]) == 40


def test_a_finished_preview_carries_its_diff_resource_by_resource(history_api: Api) -> None:
    api = history_api
    response = api.client.post(
        f"{COMPONENT}/previews", json={"environment": "dev", "tag": "v1.2.0"}
    )
    assert response.status_code == 202, response.text
    preview = response.json()
    assert preview["diff"] is None  # not finished yet
    steps = [
        (
            "urn:pulumi:dev::orders::pulumi:pulumi:Stack::orders-dev",
            "pulumi:pulumi:Stack",
            "same",
            [],
        ),
        (
            "urn:pulumi:dev::orders::shipyard:local:Service::web",
            "shipyard:local:Service",
            "update",
            ["image"],
        ),
        ("urn:pulumi:dev::orders::shipyard:local:Route::web", "shipyard:local:Route", "create", []),
    ]
    with transaction(api.database) as session:
        for urn, kind, op, keys in steps:
            data = {"urn": urn, "resource_type": kind, "op": op, "changed_keys": keys}
            append_event(session, preview["job"], "engine.resource_step", op, data=data)
        deployment = session.get_one(models.Deployment, preview["id"])
        set_deployment_status(session, deployment, DeploymentStatus.succeeded)

    diff = api.client.get(f"/api/v1/deployments/{preview['id']}").json()["diff"]
    deploy = _deploy(api, "dev", "v1.2.0")

    assert [(c["resource"], c["type"], c["operation"], c["changed_inputs"]) for c in diff] == [
        ("web", "shipyard:local:Service", "update", ["image"]),
        ("web", "shipyard:local:Route", "create", []),
    ]
    assert deploy["diff"] is None  # not a preview


def test_a_tag_known_only_from_builds_is_listed_with_its_latest_build(history_api: Api) -> None:
    api = history_api
    with transaction(api.database) as session:
        component = session.scalars(
            select(models.Component).where(models.Component.name == "orders-api")
        ).one()
        first = datetime(2025, 6, 1, tzinfo=UTC)
        for when, status in (
            (first, BuildStatus.failed),
            (first.replace(day=2), BuildStatus.succeeded),
        ):
            session.add(
                models.Build(
                    component_id=component.id, ref="v0.9.0", status=status, created_at=when
                )
            )

    tags = api.client.get(f"{COMPONENT}/tags").json()["items"]

    [built] = [tag for tag in tags if tag["tag"] == "v0.9.0"]
    assert built["build"] == "succeeded"
    assert built["created_at"].startswith("2025-06-01")
    assert [tag["tag"] for tag in tags][-1] == "v0.9.0"  # the oldest
