"""A deployment's events over SSE: history replay, live events, resume with Last-Event-ID."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.api import EventStreamOptions, create_app
from shipyard.cli._client import SseMessage, iter_sse
from shipyard.jobs.doorbell import JOB_COMMITS
from shipyard.store import models, transaction
from shipyard.store.deployments import set_deployment_status
from shipyard.store.enums import DeploymentStatus
from shipyard.store.events import append_event
from shipyard.testing.api import Api, assert_problem
from shipyard.testing.samples import write_component
from shipyard.testing.server import running_server

TIMEOUT = 30.0


@pytest.fixture
def deployment(api: Api, tmp_path: Path) -> dict[str, int]:
    write_component(tmp_path / "orders", "orders-api")
    api.client.post("/api/v1/components", json={"path": str(tmp_path / "orders")})
    response = api.client.post(
        "/api/v1/components/default/orders-api/deployments",
        json={"environment": "dev", "tag": "v1"},
    )
    body = response.json()
    return {"id": body["id"], "job": body["job"]}


def _emit(api: Api, deployment: dict[str, int], *messages: str) -> None:
    with transaction(api.database) as session:
        for message in messages:
            append_event(session, deployment["job"], "log", message, deployment_id=deployment["id"])


def _finish(api: Api, deployment: dict[str, int], status: DeploymentStatus) -> None:
    with transaction(api.database) as session:
        record = session.get_one(models.Deployment, deployment["id"])
        set_deployment_status(session, record, status, url="http://orders.localhost")


def _stream(api: Api, deployment_id: int, **headers: str) -> Iterator[SseMessage]:
    with api.client.stream(
        "GET",
        f"/api/v1/deployments/{deployment_id}/events",
        headers=headers,
        timeout=httpx.Timeout(TIMEOUT),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from iter_sse(response.iter_lines())


@contextlib.contextmanager
def _followed(
    api: Api, deployment: dict[str, int], options: EventStreamOptions
) -> Iterator[queue.Queue[SseMessage | None]]:
    """A server of its own with ``options``, and a client following the deployment's
    stream in a thread: its messages, then None once the stream ended."""
    app = create_app(api.settings, event_stream=options)
    received: queue.Queue[SseMessage | None] = queue.Queue()
    with running_server(app) as url:
        headers = {"Authorization": f"Bearer {api.token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT) as client:

            def listen() -> None:
                path = f"/api/v1/deployments/{deployment['id']}/events"
                with client.stream("GET", path) as response:
                    for event in iter_sse(response.iter_lines()):
                        received.put(event)
                received.put(None)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            yield received
            listener.join(TIMEOUT)


def _messages(events: list[SseMessage]) -> list[str]:
    return [json.loads(event.data)["message"] for event in events if event.event == "message"]


def _sent_when_rung(
    deployment: dict[str, int], received: queue.Queue[SseMessage | None]
) -> list[str]:
    """The job's commit rings (as its worker reports it); what the stream sends next:
    an event's message, or ``end``."""
    JOB_COMMITS.ring(deployment["job"])
    sent = received.get(timeout=TIMEOUT)
    assert sent is not None, "the stream closed without its end"
    return ["end"] if sent.event == "end" else _messages([sent])


def test_a_finished_deployment_replays_its_history_then_ends(
    api: Api, deployment: dict[str, int]
) -> None:
    _emit(api, deployment, "one", "two", "three")
    _finish(api, deployment, DeploymentStatus.succeeded)

    events = list(_stream(api, deployment["id"]))

    assert _messages(events) == ["one", "two", "three"]
    assert [event.id for event in events[:3]] == ["1", "2", "3"]
    assert events[-1].event == "end"
    assert json.loads(events[-1].data) == {"status": "succeeded"}


def test_live_events_arrive_while_connected_and_the_stream_ends_with_the_deployment(
    api: Api, deployment: dict[str, int]
) -> None:
    _emit(api, deployment, "before")
    received: queue.Queue[SseMessage | None] = queue.Queue()

    def listen() -> None:
        for event in _stream(api, deployment["id"]):
            received.put(event)
        received.put(None)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert _messages([received.get(timeout=TIMEOUT)]) == ["before"]

    _emit(api, deployment, "live 1")
    assert _messages([received.get(timeout=TIMEOUT)]) == ["live 1"]
    _emit(api, deployment, "live 2")
    _finish(api, deployment, DeploymentStatus.failed)

    rest: list[SseMessage] = []
    while (event := received.get(timeout=TIMEOUT)) is not None:
        rest.append(event)
    listener.join(TIMEOUT)
    assert _messages(rest) == ["live 2"]
    assert rest[-1].event == "end" and json.loads(rest[-1].data) == {"status": "failed"}


def test_a_commit_reported_by_the_job_wakes_the_stream_before_its_next_poll(
    api: Api, deployment: dict[str, int]
) -> None:
    # A server that would look at the events table only once a minute: what arrives
    # sooner was woken by the job's commit, as a worker of the same process reports it.
    options = EventStreamOptions(poll_interval=60.0)
    with _followed(api, deployment, options) as received:
        _emit(api, deployment, "before")
        assert _sent_when_rung(deployment, received) == ["before"]

        _emit(api, deployment, "live")
        assert _sent_when_rung(deployment, received) == ["live"]
        _finish(api, deployment, DeploymentStatus.succeeded)
        assert _sent_when_rung(deployment, received) == ["end"]


def test_a_stream_its_jobs_commits_wake_no_longer_polls_the_table_often(
    api: Api, deployment: dict[str, int]
) -> None:
    # Polling every 10 ms until the job's first commit rings, then once a minute. Only
    # the worker's rings here: PostgreSQL's NOTIFY would wake it too (its own tests).
    options = EventStreamOptions(poll_interval=0.01, woken_poll_interval=60.0, listen=False)
    with _followed(api, deployment, options) as received:
        _emit(api, deployment, "found by a poll")
        assert _messages([received.get(timeout=TIMEOUT)]) == ["found by a poll"]

        _emit(api, deployment, "rung")
        assert _sent_when_rung(deployment, received) == ["rung"]

        _emit(api, deployment, "not rung")  # a 10 ms poll would find it at once
        with pytest.raises(queue.Empty):
            received.get(timeout=0.5)
        assert _sent_when_rung(deployment, received) == ["not rung"]
        _finish(api, deployment, DeploymentStatus.succeeded)
        assert _sent_when_rung(deployment, received) == ["end"]


def test_last_event_id_resumes_after_the_events_already_seen(
    api: Api, deployment: dict[str, int]
) -> None:
    _emit(api, deployment, "one", "two", "three", "four")
    _finish(api, deployment, DeploymentStatus.succeeded)

    events = list(_stream(api, deployment["id"], **{"Last-Event-ID": "2"}))

    assert _messages(events) == ["three", "four"]
    assert [event.id for event in events if event.event == "message"] == ["3", "4"]


def test_without_follow_a_running_deployment_gives_its_stored_events_only(
    api: Api, deployment: dict[str, int]
) -> None:
    _emit(api, deployment, "so far")
    with api.client.stream(
        "GET", f"/api/v1/deployments/{deployment['id']}/events", params={"follow": "false"}
    ) as response:
        events = list(iter_sse(response.iter_lines()))

    assert _messages(events) == ["so far"]
    assert json.loads(events[-1].data) == {"status": "queued"}


def test_events_of_an_unknown_deployment_are_a_problem(api: Api) -> None:
    assert_problem(api.client.get("/api/v1/deployments/404/events"), 404)
    bad_id = api.client.get("/api/v1/deployments/1/events", headers={"Last-Event-ID": "x"})
    assert_problem(bad_id, 422)
