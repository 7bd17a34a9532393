"""Webhooks in, over real HTTP against a served API: GitHub, GitLab and Standard Webhooks
senders, signatures right, wrong and missing, replays, oversized bodies, the tag read from
the component's own (real git) repository, and the poller deduplicated with them."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from standardwebhooks.webhooks import Webhook

from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction
from shipyard.store.seen_tags import StoredSeenTags
from shipyard.targets.local.trigger import TagWatcher
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.samples import write_platform

GLOBAL = "global-webhook-secret"
SLUG = "Acme/Shop"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


DESCRIPTOR = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: shop
  annotations:
    github.com/project-slug: {slug}
    shipyard.dev/source: '.'
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
"""


@dataclass
class World:
    api: Api
    repo: Path

    def tag(self, tag: str) -> str:
        (self.repo / "VERSION").write_text(tag)
        git(self.repo, "add", "--all")
        git(self.repo, "commit", "--quiet", "-m", tag)
        git(self.repo, "tag", tag)
        return git(self.repo, "rev-parse", "HEAD")

    def post(self, route: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{self.api.url}/api/v1/hooks/{route}",
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )

    def deployments(self) -> list[dict[str, Any]]:
        response = self.api.client.get("/api/v1/components/default/shop/deployments")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def audit(self, request_id: str) -> list[models.AuditRecord]:
        with transaction(self.api.database, read_only=True) as session:
            rows = list(
                session.scalars(
                    select(models.AuditRecord).where(models.AuditRecord.request_id == request_id)
                )
            )
            session.expunge_all()
        return rows


def _world(tmp_path: Path, database_url: str, database: Engine) -> Iterator[World]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "catalog-info.yaml").write_text(DESCRIPTOR.format(slug=SLUG))
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        source_roots=[tmp_path],
        database_url=database_url,
        platform=write_platform(tmp_path / "platform.yaml"),
        webhook_secret=GLOBAL,
    )
    with serve_api(settings, database) as api:
        response = api.client.post("/api/v1/components", json={"path": str(repo)})
        assert response.status_code == 201, response.text
        yield World(api, repo)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    database = open_database(url)
    try:
        yield from _world(tmp_path, url, database)
    finally:
        database.dispose()


@pytest.fixture
def any_world(tmp_path: Path, database: Engine) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    yield from _world(tmp_path, database.url.render_as_string(hide_password=False), database)


def github_push(tag: str, *, full_name: str = SLUG) -> bytes:
    return json.dumps(
        {
            "ref": f"refs/tags/{tag}",
            "before": "0" * 40,
            "after": "f" * 40,  # never trusted: the commit is read from the repository
            "created": True,
            "deleted": False,
            "repository": {
                "full_name": full_name,
                "clone_url": f"https://github.com/{full_name}.git",
                "ssh_url": f"git@github.com:{full_name}.git",
            },
        }
    ).encode()


def github_headers(
    body: bytes, *, secret: str | None = GLOBAL, event: str = "push", delivery: str | None = None
) -> dict[str, str]:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return headers


def standard_headers(
    body: bytes, secret: str, *, at: datetime | None = None, message_id: str | None = None
) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    key = secret.encode() if not secret.startswith("whsec_") else secret
    signature = Webhook(key).sign(message_id, at, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def test_a_signed_github_tag_push_deploys_the_tag_read_from_the_repository(
    any_world: World,
) -> None:
    world = any_world
    commit = world.tag("v1.0.0")
    body = github_push("v1.0.0")
    response = world.post("github", body, github_headers(body))
    assert response.status_code == 202, response.text
    [result] = response.json()["components"]
    assert result["component"] == "default/shop"
    assert result["status"] == "queued"
    [deployment] = world.deployments()
    assert deployment["id"] == result["deployments"][0]
    assert (deployment["tag"], deployment["reason"], deployment["environment"]) == (
        "v1.0.0",
        "auto",
        "dev",
    )
    seen = StoredSeenTags(world.api.database).of("default/shop")
    assert seen == {"v1.0.0": commit}  # the repository's commit, not the payload's
    records = world.audit(response.headers["X-Request-ID"])
    assert [(r.action, r.actor, r.result) for r in records] == [
        ("deployment.request", "webhook:github", "ok")
    ]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"secret": "not-the-secret"}, id="wrong"),
        pytest.param({"secret": None}, id="missing"),
    ],
)
def test_a_github_event_without_a_good_signature_is_refused_audited_and_changes_nothing(
    world: World, headers: dict[str, Any]
) -> None:
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    response = world.post("github", body, github_headers(body, **headers))
    problem = assert_problem(response, 401, instance="/api/v1/hooks/github")
    assert problem["type"] == "urn:shipyard:problem:webhook-signature"
    assert "shipyard webhook secret set" in problem["detail"]
    assert world.deployments() == []
    [record] = world.audit(response.headers["X-Request-ID"])
    assert (record.action, record.result, record.status_code, record.actor) == (
        "webhook.github",
        "unauthorized",
        401,
        "anonymous",
    )
    # refused before anything was requested: the tag is still new for the poller
    assert StoredSeenTags(world.api.database).of("default/shop") == {}


def test_a_signature_over_another_body_is_refused(world: World) -> None:
    world.tag("v1.0.0")
    signed = github_push("v1.0.0")
    sent = github_push("v1.0.0").replace(b"v1.0.0", b"v9.9.9")
    response = world.post("github", sent, github_headers(signed))
    assert_problem(response, 401)
    assert world.deployments() == []


def test_a_replayed_delivery_is_refused_and_changes_nothing(world: World) -> None:
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    headers = github_headers(body)
    assert world.post("github", body, headers).status_code == 202
    world.tag("v1.0.1")
    again = world.post("github", body, headers)
    problem = assert_problem(again, 409)
    assert problem["type"] == "urn:shipyard:problem:webhook-replay"
    assert len(world.deployments()) == 1
    [record] = world.audit(again.headers["X-Request-ID"])
    assert (record.action, record.result, record.status_code) == ("webhook.github", "invalid", 409)


def test_delivery_ids_are_kept_30_days_then_forgotten(world: World) -> None:
    now = datetime.now(UTC)
    with transaction(world.api.database) as session:
        session.add_all(
            [
                models.WebhookDelivery(
                    source="github", delivery_id="old", received_at=now - timedelta(days=31)
                ),
                models.WebhookDelivery(
                    source="github", delivery_id="recent", received_at=now - timedelta(days=29)
                ),
            ]
        )
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    assert world.post("github", body, github_headers(body, delivery="new")).status_code == 202
    with transaction(world.api.database, read_only=True) as session:
        kept = set(session.scalars(select(models.WebhookDelivery.delivery_id)))
    assert kept == {"recent", "new"}
    replay = world.post("github", body, github_headers(body, delivery="recent"))
    assert_problem(replay, 409)


def test_a_body_over_one_mebibyte_is_refused_declared_or_streamed(world: World) -> None:
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    padded = body[:-1] + b', "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = world.post("github", padded, github_headers(padded))
    problem = assert_problem(response, 413)
    assert "1 MiB" in problem["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut while reading
        yield padded[: 512 * 1024]
        yield padded[512 * 1024 :]

    streamed = httpx.post(
        f"{world.api.url}/api/v1/hooks/github",
        content=chunks(),
        headers={"Content-Type": "application/json", **github_headers(padded)},
        timeout=30,
    )
    assert_problem(streamed, 413)
    assert world.deployments() == []
    [record] = world.audit(streamed.headers["X-Request-ID"])
    assert (record.result, record.status_code) == ("invalid", 413)


def test_one_mebibyte_exactly_is_read(world: World) -> None:
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    pad = 1024 * 1024 - len(body[:-1] + b', "pad": "' + b'"}')
    exact = body[:-1] + b', "pad": "' + b"x" * pad + b'"}'
    assert len(exact) == 1024 * 1024
    response = world.post("github", exact, github_headers(exact))
    assert response.status_code == 202, response.text


def test_ping_is_answered_and_other_events_change_nothing(world: World) -> None:
    ping = json.dumps({"zen": "Keep it simple.", "repository": {"full_name": SLUG}}).encode()
    response = world.post("github", ping, github_headers(ping, event="ping"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pong"
    assert response.json()["components"] == ["default/shop"]
    branch = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": SLUG}}).encode()
    response = world.post("github", branch, github_headers(branch))
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert world.deployments() == []


def test_an_event_for_no_known_component_is_accepted_and_changes_nothing(world: World) -> None:
    body = github_push("v1.0.0", full_name="someone/else")
    response = world.post("github", body, github_headers(body))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "ignored"
    assert world.deployments() == []


def test_a_tag_the_repository_does_not_have_or_that_does_not_match_is_not_deployed(
    world: World,
) -> None:
    world.tag("v1.0.0")
    body = github_push("v2.0.0")
    response = world.post("github", body, github_headers(body))
    assert response.status_code == 202
    assert response.json()["components"][0]["status"] == "not-in-source"
    world.tag("nightly")
    body = github_push("nightly")
    response = world.post("github", body, github_headers(body))
    assert response.json()["components"][0]["status"] == "not-matching"
    assert world.deployments() == []


def test_a_github_create_event_of_a_tag_deploys_it(world: World) -> None:
    world.tag("v1.2.0")
    body = json.dumps(
        {"ref": "v1.2.0", "ref_type": "tag", "repository": {"full_name": SLUG.lower()}}
    ).encode()
    response = world.post("github", body, github_headers(body, event="create"))
    assert response.status_code == 202, response.text
    assert [d["tag"] for d in world.deployments()] == ["v1.2.0"]


def gitlab_push(tag: str, project: str = SLUG) -> bytes:
    return json.dumps(
        {
            "object_kind": "tag_push",
            "ref": f"refs/tags/{tag}",
            "after": "a" * 40,
            "project": {
                "path_with_namespace": project,
                "git_http_url": f"https://gitlab.example.com/{project}.git",
            },
        }
    ).encode()


def test_gitlab_tag_push_with_the_right_token_deploys_and_a_wrong_one_is_refused(
    world: World,
) -> None:
    # a GitLab project finds the component by its URL here: the source of the component
    world.tag("v1.0.0")
    body = json.dumps(
        {
            "object_kind": "tag_push",
            "ref": "refs/tags/v1.0.0",
            "after": "a" * 40,
            "project": {"path_with_namespace": "x/y", "git_http_url": str(world.repo)},
        }
    ).encode()
    headers = {"X-Gitlab-Event": "Tag Push Hook", "Idempotency-Key": str(uuid.uuid4())}
    wrong = world.post("gitlab", body, {**headers, "X-Gitlab-Token": "nope"})
    assert_problem(wrong, 401)
    missing = world.post("gitlab", body, headers)
    assert_problem(missing, 401)
    assert world.deployments() == []
    right = world.post("gitlab", body, {**headers, "X-Gitlab-Token": GLOBAL})
    assert right.status_code == 202, right.text
    assert [d["tag"] for d in world.deployments()] == ["v1.0.0"]
    replay = world.post("gitlab", body, {**headers, "X-Gitlab-Token": GLOBAL})
    assert_problem(replay, 409)


def test_gitlab_finds_a_component_by_its_project_slug(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    text = DESCRIPTOR.format(slug=SLUG).replace(
        "github.com/project-slug", "gitlab.com/project-slug"
    )
    (repo / "catalog-info.yaml").write_text(text)
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    database = open_database(url)
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        source_roots=[tmp_path],
        database_url=url,
        platform=write_platform(tmp_path / "platform.yaml"),
        webhook_secret=GLOBAL,
    )
    try:
        with serve_api(settings, database) as api:
            assert api.client.post("/api/v1/components", json={"path": str(repo)}).is_success
            world = World(api, repo)
            world.tag("v3.0.0")
            body = gitlab_push("v3.0.0")
            headers = {"X-Gitlab-Token": GLOBAL, "X-Gitlab-Event-UUID": str(uuid.uuid4())}
            response = world.post("gitlab", body, headers)
            assert response.status_code == 202, response.text
            assert [d["tag"] for d in world.deployments()] == ["v3.0.0"]
    finally:
        database.dispose()


def test_generic_standard_webhook_signed_right_deploys_and_stale_or_wrong_is_refused(
    world: World,
) -> None:
    world.tag("v1.0.0")
    body = json.dumps({"repository": "acme/shop", "tag": "v1.0.0"}).encode()
    stale = world.post(
        "generic", body, standard_headers(body, GLOBAL, at=datetime.now(UTC) - timedelta(minutes=6))
    )
    problem = assert_problem(stale, 401)
    assert "too old" in problem["detail"]
    future = world.post(
        "generic", body, standard_headers(body, GLOBAL, at=datetime.now(UTC) + timedelta(minutes=6))
    )
    assert_problem(future, 401)
    wrong = world.post("generic", body, standard_headers(body, "another-secret"))
    assert_problem(wrong, 401)
    unsigned = world.post("generic", body, {})
    assert_problem(unsigned, 401)
    assert world.deployments() == []
    headers = standard_headers(body, GLOBAL)
    right = world.post("generic", body, headers)
    assert right.status_code == 202, right.text
    assert [d["tag"] for d in world.deployments()] == ["v1.0.0"]
    assert_problem(world.post("generic", body, headers), 409)


def test_generic_payload_must_be_repository_and_tag(world: World) -> None:
    body = json.dumps({"repository": "acme/shop", "tag": "--upload-pack=x"}).encode()
    response = world.post("generic", body, standard_headers(body, GLOBAL))
    assert_problem(response, 422)
    body = b"not json"
    response = world.post("generic", body, standard_headers(body, GLOBAL))
    assert_problem(response, 422)


def test_a_components_own_secret_is_shown_once_and_verifies_its_events(world: World) -> None:
    response = world.api.client.put("/api/v1/components/default/shop/webhook-secret")
    assert response.status_code == 200, response.text
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    with transaction(world.api.database, read_only=True) as session:
        [sealed] = session.scalars(select(models.WebhookSecret.sealed)).all()
    assert secret not in sealed  # stored sealed, never as given
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    assert world.post("github", body, github_headers(body, secret=secret)).status_code == 202
    standard = json.dumps({"repository": "acme/shop", "tag": "v1.0.0"}).encode()
    again = world.post("generic", standard, standard_headers(standard, secret))
    assert again.status_code == 202, again.text
    assert again.json()["components"][0]["status"] == "already-requested"
    # a new secret replaces it
    newer = world.api.client.put("/api/v1/components/default/shop/webhook-secret").json()
    assert newer["secret"] != secret
    world.tag("v1.0.1")
    body = github_push("v1.0.1")
    assert_problem(world.post("github", body, github_headers(body, secret=secret)), 401)
    assert world.post("github", body, github_headers(body, secret=newer["secret"])).is_success


def test_a_tag_from_a_webhook_and_from_the_poller_is_deployed_once(world: World) -> None:
    world.tag("v1.0.0")
    body = github_push("v1.0.0")
    assert world.post("github", body, github_headers(body)).status_code == 202
    requested: list[str] = []
    watcher = TagWatcher.from_settings(
        world.api.settings,
        "default/shop",
        str(world.repo.resolve()),
        r"^v\d+\.\d+\.\d+$",
        lambda event: requested.append(event.tag),
        seen=StoredSeenTags(world.api.database),  # as the serving host's trigger supervisor
    )
    assert watcher.poll_once() == []
    world.tag("v1.1.0")
    assert [event.tag for event in watcher.poll_once()] == ["v1.1.0"]  # the poller's own
    body = github_push("v1.1.0")
    response = world.post("github", body, github_headers(body))
    assert response.json()["components"][0]["status"] == "already-requested"
    assert [d["tag"] for d in world.deployments()] == ["v1.0.0"]
    assert requested == ["v1.1.0"]


def test_the_hooks_are_the_only_routes_authenticated_by_signature(world: World) -> None:
    document = world.api.client.get("/openapi.json").json()
    by_authentication: dict[str, set[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rule = operation["x-shipyard-access"]
            by_authentication.setdefault(rule["authentication"], set()).add(
                f"{method.upper()} {path}"
            )
    assert by_authentication["signature"] == {
        "POST /api/v1/hooks/github",
        "POST /api/v1/hooks/gitlab",
        "POST /api/v1/hooks/generic",
        "POST /api/v1/hooks/backstage",
        "POST /api/v1/hooks/cloudbuild",
    }
    assert by_authentication["none"] == {"GET /healthz"}
    assert not [route for route in by_authentication["bearer"] if "/api/v1/hooks/" in route]
    assert "PUT /api/v1/components/{namespace}/{name}/webhook-secret" in by_authentication["bearer"]
    # and a bearer opens none of them, not even the admin's
    for route in ("github", "gitlab", "generic", "backstage", "cloudbuild"):
        response = world.api.client.post(f"/api/v1/hooks/{route}", json={})
        assert_problem(response, 401)
