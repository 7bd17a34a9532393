"""Live event streams over real HTTP: the headers and heartbeats that keep proxies from
buffering or cutting them, and, on PostgreSQL, the database's NOTIFY that wakes a stream
when a job of another process commits an event (the poll stays the safety net)."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from shipyard.api import EventStreamOptions, create_app
from shipyard.cli._client import SseMessage, iter_sse
from shipyard.jobs._listen import APPLICATION_NAME
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction, upgrade
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import NewEvent, append_events
from shipyard.testing.api import Api, serve_api, serve_sqlite_api
from shipyard.testing.postgres import PostgresCluster
from shipyard.testing.samples import write_component, write_platform
from shipyard.testing.server import running_server
from shipyard.testing.web import browser, sign_in_with_token

TIMEOUT = 30.0
POLL_S = 5.0
"""The streams' poll interval in the NOTIFY tests: what arrives well before it was woken."""
PROMPT_S = 2.0

SSE_HEADERS = {"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"}


def _queue_deployment(api: Api, folder: Path) -> dict[str, int]:
    write_component(folder / "orders", "orders-api")
    registered = api.client.post("/api/v1/components", json={"path": str(folder / "orders")})
    assert registered.status_code == 201, registered.text
    response = api.client.post(
        "/api/v1/components/default/orders-api/deployments",
        json={"environment": "dev", "tag": "v1"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    return {"id": body["id"], "job": body["job"]}


def _finish(database: Engine, deployment: dict[str, int]) -> None:
    """The job's end record as a deploy writes it: the status and an event, one commit."""
    with transaction(database) as session:
        record = session.get_one(models.Deployment, deployment["id"])
        set_deployment_status(session, record, DeploymentStatus.succeeded)
        append_events(session.connection(), deployment["job"], [NewEvent("end", "done")])


def _heartbeats(response: httpx.Response, count: int) -> list[str]:
    """Read the stream until ``count`` comment lines came; the lines read."""
    lines: list[str] = []
    for line in response.iter_lines():
        lines.append(line)
        if sum(1 for seen in lines if seen.startswith(":")) >= count:
            return lines
    raise AssertionError(f"the stream ended after {lines}")


def test_every_event_stream_is_uncached_unbuffered_and_sends_heartbeats(tmp_path: Path) -> None:
    # The test server sends a heartbeat after 0.2 s of silence (FAST_EVENTS).
    with serve_sqlite_api(tmp_path, source_roots=[tmp_path]) as api:
        deployment = _queue_deployment(api, tmp_path)
        with browser(api) as page:
            assert sign_in_with_token(page, api.token).status_code == 303
            streams = {
                "api": (api.client, f"/api/v1/deployments/{deployment['id']}/events"),
                "web": (page, f"/ui/deployments/{deployment['id']}/events"),
            }
            for name, (client, path) in streams.items():
                with client.stream("GET", path, timeout=TIMEOUT) as response:
                    assert response.status_code == 200, name
                    assert response.headers["content-type"].startswith("text/event-stream")
                    for header, value in SSE_HEADERS.items():
                        assert response.headers.get(header) == value, (name, header)
                    lines = _heartbeats(response, 3)
                assert lines[0] == "retry: 1000", name
                assert [line for line in lines if line] == ["retry: 1000"] + [": keepalive"] * 3


# -- PostgreSQL: LISTEN/NOTIFY ------------------------------------------------------------


@pytest.fixture
def pg_api(postgres_cluster: PostgresCluster, tmp_path: Path) -> Iterator[Api]:
    """The API on a fresh PostgreSQL database, its streams polling every 5 s."""
    with postgres_cluster.database() as url:
        database = open_database(url)
        try:
            upgrade(database)
            settings = Settings(
                data_dir=tmp_path / "data",
                cache_dir=tmp_path / "cache",
                source_roots=[tmp_path],
                database_url=url,
                platform=write_platform(tmp_path / "platform.yaml"),
            )
            with serve_api(settings, database) as api:
                yield api
        finally:
            database.dispose()


@contextlib.contextmanager
def _following(api: Api, deployment_id: int) -> Iterator[queue.Queue[SseMessage | None]]:
    """A server of its own polling every ``POLL_S`` (slower when woken), and a client
    following the deployment's stream in a thread: its messages, then None at its end."""
    options = EventStreamOptions(poll_interval=POLL_S, woken_poll_interval=POLL_S, keepalive=60)
    received: queue.Queue[SseMessage | None] = queue.Queue()
    with running_server(create_app(api.settings, event_stream=options)) as url:
        headers = {"Authorization": f"Bearer {api.token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT) as client:

            def follow() -> None:
                path = f"/api/v1/deployments/{deployment_id}/events"
                with client.stream("GET", path) as response:
                    for message in iter_sse(response.iter_lines()):
                        received.put(message)
                received.put(None)

            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            yield received
            reader.join(TIMEOUT)


def _listeners(database: Engine) -> list[int]:
    """The backends listening for job events (as pg_stat_activity shows them)."""
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND query LIKE 'LISTEN %'"
    )
    with database.connect() as connection:
        return list(connection.execute(query, {"name": APPLICATION_NAME}).scalars())


def _wait_for_listener(database: Engine, other_than: int | None = None) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = [pid for pid in _listeners(database) if pid != other_than]
        if found:
            [pid] = found
            return pid
        time.sleep(0.05)  # bounded by the deadline
    raise AssertionError("no connection listens for job events")


_WRITER = textwrap.dedent(
    """
    import sys, time
    from shipyard.store import open_database, transaction
    from shipyard.store.events import NewEvent, append_events

    url, job_id, message = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    database = open_database(url)
    with transaction(database) as session:
        append_events(session.connection(), job_id, [NewEvent("log", message)])
    print(time.time(), flush=True)
    """
)


def _write_from_another_process(api: Api, job_id: int, message: str) -> float:
    """Append an event as a job's process on another host would: its own process and
    connection; the time its transaction committed."""
    url = api.database.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", _WRITER, url, str(job_id), message],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout.strip())


def _next_message(received: queue.Queue[SseMessage | None]) -> tuple[str, float]:
    message = received.get(timeout=TIMEOUT)
    arrived = time.time()
    assert message is not None, "the stream ended"
    return json.loads(message.data)["message"], arrived


def test_an_event_of_another_process_wakes_the_stream_before_its_poll(
    pg_api: Api, tmp_path: Path
) -> None:
    deployment = _queue_deployment(pg_api, tmp_path)
    with _following(pg_api, deployment["id"]) as received:
        _wait_for_listener(pg_api.database)
        with pg_api.database.begin() as connection:  # anyone may NOTIFY: nonsense is ignored
            for payload in ("x", "-1", "99999999999999999999999", "١٢"):
                connection.execute(
                    text("SELECT pg_notify('shipyard_job_events', :p)"), {"p": payload}
                )

        committed = _write_from_another_process(pg_api, deployment["job"], "from afar")

        message, arrived = _next_message(received)
        assert message == "from afar"
        assert arrived - committed < PROMPT_S  # the poll would have taken up to 5 s

        committed = time.time()
        _finish(pg_api.database, deployment)
        assert _next_message(received)[0] == "done"
        end = received.get(timeout=TIMEOUT)
        assert end is not None and end.event == "end"
        assert time.time() - committed < PROMPT_S
        assert received.get(timeout=TIMEOUT) is None


def test_the_listener_connects_again_after_its_connection_is_killed(
    pg_api: Api, tmp_path: Path
) -> None:
    deployment = _queue_deployment(pg_api, tmp_path)
    with _following(pg_api, deployment["id"]) as received:
        first = _wait_for_listener(pg_api.database)
        with pg_api.database.begin() as connection:
            killed = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            assert killed.scalar_one() is True
        second = _wait_for_listener(pg_api.database, other_than=first)
        assert second != first

        committed = _write_from_another_process(pg_api, deployment["job"], "after the cut")

        message, arrived = _next_message(received)  # the same stream, never broken
        assert message == "after the cut"
        assert arrived - committed < PROMPT_S
        _finish(pg_api.database, deployment)
        assert _next_message(received)[0] == "done"
        end = received.get(timeout=TIMEOUT)
        assert end is not None and end.event == "end"


def test_the_listener_stops_with_its_last_stream(pg_api: Api, tmp_path: Path) -> None:
    deployment = _queue_deployment(pg_api, tmp_path)
    with _following(pg_api, deployment["id"]) as received:
        _wait_for_listener(pg_api.database)
        _finish(pg_api.database, deployment)
        assert _next_message(received)[0] == "done"
        end = received.get(timeout=TIMEOUT)
        assert end is not None and end.event == "end"
    deadline = time.monotonic() + TIMEOUT
    while _listeners(pg_api.database) and time.monotonic() < deadline:
        time.sleep(0.05)  # bounded by the deadline
    assert _listeners(pg_api.database) == []
