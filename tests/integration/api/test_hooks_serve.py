"""Webhooks in against ``shipyard serve`` as operators run it (its own process, tag
watchers polling every second, on SQLite and PostgreSQL): GitHub- and GitLab-shaped
payloads with correct, wrong and missing signatures, replays, oversized bodies, and a tag
that arrives by webhook and by polling requested once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from shipyard.store import models, transaction
from shipyard.testing.samples import write_platform

pytestmark = pytest.mark.integration

SHIPYARD = Path(sys.executable).with_name("shipyard")
SECRET = "installation-secret-for-tests"
SLUG = "acme/shop"
DESCRIPTOR = f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: shop
  annotations:
    github.com/project-slug: {SLUG}
    shipyard.dev/source: '.'
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@dataclass
class Served:
    url: str
    token: str
    repo: Path
    database: Engine

    def tag(self, tag: str) -> None:
        (self.repo / "VERSION").write_text(tag)
        git(self.repo, "add", "--all")
        git(self.repo, "commit", "--quiet", "-m", tag)
        git(self.repo, "tag", tag)

    def hook(self, route: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/hooks/{route}",
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )

    def deployed_tags(self) -> list[str]:
        with transaction(self.database, read_only=True) as session:
            return list(
                session.scalars(select(models.Deployment.tag).order_by(models.Deployment.id))
            )

    def audit(self, response: httpx.Response) -> list[tuple[str, str | None, int | None]]:
        with transaction(self.database, read_only=True) as session:
            rows = session.scalars(
                select(models.AuditRecord).where(
                    models.AuditRecord.request_id == response.headers["X-Request-ID"]
                )
            )
            return [(row.action, row.result, row.status_code) for row in rows]


@pytest.fixture
def served(tmp_path: Path, database: Engine) -> Iterator[Served]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "catalog-info.yaml").write_text(DESCRIPTOR)
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env |= {
        "SHIPYARD_DATA_DIR": str(data_dir),
        "SHIPYARD_CACHE_DIR": str(tmp_path / "cache"),
        "SHIPYARD_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "SHIPYARD_SOURCE_ROOTS": json.dumps([str(tmp_path)]),
        "SHIPYARD_WEBHOOK_SECRET": SECRET,
        "SHIPYARD_TAG_POLL_INTERVAL": "1",
    }
    platform = write_platform(tmp_path / "platform.yaml")
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        # No workers: the deployments a webhook queues are what these tests look at.
        [str(SHIPYARD), "serve", "--port", "0", "--platform", str(platform), "--workers", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None and time.monotonic() < deadline and process.poll() is None:
            try:
                config = json.loads((data_dir / "client.json").read_text())
                if httpx.get(f"{config['server']}/healthz", timeout=5).status_code == 200:
                    url = config["server"]
            except (OSError, ValueError, httpx.TransportError):
                time.sleep(0.1)  # the server's start: migrations, proxy, watchers
        assert url is not None, (tmp_path / "serve.log").read_text()[-3000:]
        token = (data_dir / "admin-token").read_text().strip()
        registered = httpx.post(
            f"{url}/api/v1/components",
            json={"path": str(repo)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        yield Served(url, token, repo, database)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def github(
    tag: str, *, secret: str | None = SECRET, delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "ref": f"refs/tags/{tag}",
            "deleted": False,
            "after": "0123456789abcdef0123456789abcdef01234567",
            "repository": {"full_name": SLUG, "clone_url": f"https://github.com/{SLUG}.git"},
            "sender": {"login": "octocat"},
        }
    ).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if secret is not None:
        headers["X-Hub-Signature-256"] = (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
    return body, headers


def gitlab(tag: str, repo: Path) -> bytes:
    return json.dumps(
        {
            "object_kind": "tag_push",
            "event_name": "tag_push",
            "ref": f"refs/tags/{tag}",
            "after": "0123456789abcdef0123456789abcdef01234567",
            "project": {"path_with_namespace": "group/other-name", "git_http_url": str(repo)},
        }
    ).encode()


def _wait(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)  # the server's poller runs every second


def test_github_payloads_signed_right_wrong_missing_replayed_and_oversized(
    served: Served,
) -> None:
    # the poller sees v1.0.0 first: then the webhook for it is a no-op (one deployment)
    served.tag("v1.0.0")
    _wait(lambda: served.deployed_tags() == ["v1.0.0"])
    body, headers = github("v1.0.0")
    first = served.hook("github", body, headers)
    assert first.status_code == 202, first.text
    assert first.json()["components"][0]["status"] == "already-requested"

    served.tag("v1.1.0")
    body, headers = github("v1.1.0")
    wrong = served.hook("github", body, github("v1.1.0", secret="guess")[1])
    missing = served.hook("github", body, github("v1.1.0", secret=None)[1])
    for refused in (wrong, missing):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert served.audit(refused) == [("webhook.github", "unauthorized", 401)]
    accepted = served.hook("github", body, headers)
    assert accepted.status_code == 202, accepted.text
    replay = served.hook("github", body, headers)
    assert replay.status_code == 409
    assert served.audit(replay) == [("webhook.github", "invalid", 409)]
    big = body[:-1] + b', "padding": "' + b"x" * (1024 * 1024) + b'"}'
    oversized = served.hook("github", big, github("v1.1.0")[1])
    assert oversized.status_code == 413
    assert served.audit(oversized) == [("webhook.github", "invalid", 413)]
    time.sleep(3)  # three polls: the poller must not request v1.1.0 again
    assert served.deployed_tags() == ["v1.0.0", "v1.1.0"]


def test_gitlab_payloads_with_the_right_wrong_and_missing_token(served: Served) -> None:
    served.tag("v2.0.0")
    body = gitlab("v2.0.0", served.repo)
    headers = {"X-Gitlab-Event": "Tag Push Hook", "Idempotency-Key": str(uuid.uuid4())}
    assert served.hook("gitlab", body, {**headers, "X-Gitlab-Token": "guess"}).status_code == 401
    assert served.hook("gitlab", body, headers).status_code == 401
    right = served.hook("gitlab", body, {**headers, "X-Gitlab-Token": SECRET})
    assert right.status_code == 202, right.text
    assert right.json()["components"][0]["status"] in ("queued", "already-requested")
    assert served.hook("gitlab", body, {**headers, "X-Gitlab-Token": SECRET}).status_code == 409
    _wait(lambda: served.deployed_tags() == ["v2.0.0"])
    time.sleep(2)
    assert served.deployed_tags() == ["v2.0.0"]
    history = httpx.get(
        f"{served.url}/api/v1/components/default/shop/deployments",
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=30,
    ).json()["items"]
    assert [(item["tag"], item["reason"]) for item in history] == [("v2.0.0", "auto")]
