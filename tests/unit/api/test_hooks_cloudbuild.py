"""Cloud Build notifications by Pub/Sub push, over real HTTP (SQLite and PostgreSQL): the
token checked, a redelivery recorded once, and a waiting build follower woken at once by
a notification another request records."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from shipyard.services.cloud_build import BuildWaiter
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.fixtures import database, database_url, postgres_cluster
from shipyard.testing.samples import write_platform

__all__ = ["database", "database_url", "postgres_cluster"]

SECRET = "cloud-build-push-token"


@pytest.fixture
def api(tmp_path: Path, database: Engine) -> Iterator[Api]:
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=database.url.render_as_string(hide_password=False),
        platform=write_platform(tmp_path / "platform.yaml"),
        webhook_secret=SECRET,
    )
    with serve_api(settings, database) as served:
        yield served


def push(build_id: str, status: str, *, message_id: str | None = None) -> dict[str, Any]:
    """The shape Pub/Sub posts for a message of Cloud Build's cloud-builds topic."""
    build = {
        "id": build_id,
        "status": status,
        "buildTriggerId": "trigger-1",
        "substitutions": {"TAG_NAME": "v1.2.3"},
        "logUrl": f"https://console.cloud.google.com/cloud-build/builds/{build_id}",
        **({"finishTime": "2026-12-02T22:30:00.123Z"} if status == "SUCCESS" else {}),
    }
    return {
        "message": {
            "attributes": {"buildId": build_id, "status": status},
            "data": base64.b64encode(json.dumps(build).encode()).decode(),
            "messageId": message_id or uuid.uuid4().hex,
            "publishTime": "2026-12-02T22:30:00.200Z",
        },
        "subscription": "projects/acme/subscriptions/shipyard-builds",
    }


def post(api: Api, body: Any, token: str | None = SECRET) -> httpx.Response:
    params = {"token": token} if token is not None else {}
    return httpx.post(f"{api.url}/api/v1/hooks/cloudbuild", json=body, params=params, timeout=30)


def rows(api: Api) -> int:
    with transaction(api.database, read_only=True) as session:
        return int(session.scalar(select(func.count(models.CloudBuildNotification.id))) or 0)


def test_a_push_with_the_token_is_recorded_once_and_others_are_refused(api: Api) -> None:
    body = push("b-1", "SUCCESS", message_id="m-1")
    wrong = post(api, body, token="guess")
    missing = post(api, body, token=None)
    for refused in (wrong, missing):
        assert assert_problem(refused, 401)["type"] == "urn:shipyard:problem:webhook-signature"
    assert rows(api) == 0
    first = post(api, body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "build": "b-1",
        "status": "SUCCESS",
        "finished": True,
        "recorded": "new",
    }
    again = post(api, body)  # Pub/Sub delivers at least once: 2xx, or it retries
    assert again.json()["recorded"] == "before"
    assert rows(api) == 1
    with transaction(api.database, read_only=True) as session:
        [row] = session.scalars(select(models.CloudBuildNotification)).all()
        assert (row.build_id, row.status, row.trigger_id, row.tag) == (
            "b-1",
            "SUCCESS",
            "trigger-1",
            "v1.2.3",
        )
        assert row.finished_at is not None


def test_what_is_not_a_cloud_build_notification_is_refused(api: Api) -> None:
    assert_problem(post(api, {"message": {"messageId": "x", "attributes": {}}}), 422)
    assert_problem(post(api, {"nothing": True}), 422)
    bad = push("b-2", "WORKING")
    bad["message"]["data"] = "%%% not base64"
    bad["message"]["attributes"] = {}
    assert_problem(post(api, bad), 422)
    assert rows(api) == 0


def test_a_waiting_follower_learns_of_the_end_at_once(api: Api) -> None:
    waiter = BuildWaiter(api.database, check_every_s=0.05)
    assert post(api, push("b-3", "WORKING")).status_code == 200
    assert waiter.wait("b-3", 0.2) is False  # working is no end
    outcome: dict[str, float] = {}

    def follow() -> None:
        started = time.monotonic()
        waiter.sleep_for("b-3")(60.0)  # the follower's poll interval, cut short
        outcome["slept"] = time.monotonic() - started

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)
    assert post(api, push("b-3", "SUCCESS")).status_code == 200
    thread.join(30)
    assert not thread.is_alive()
    assert outcome["slept"] < 5  # not the 60 s it would sleep unwoken
    assert waiter.status("b-3") == "SUCCESS"
    # an earlier status delivered late does not hide the end (Pub/Sub keeps no order)
    assert post(api, push("b-3", "WORKING")).status_code == 200
    assert waiter.status("b-3") == "SUCCESS"
