"""The API under test: a real server, an admin client, and problem+json assertions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from shipyard.api import ADMIN_TOKEN_FILE, EventStreamOptions, create_app
from shipyard.settings import Settings
from shipyard.testing.server import running_server

__all__ = ["Api", "assert_problem", "serve_api"]

FAST_EVENTS = EventStreamOptions(poll_interval=0.02, keepalive=0.2)


@dataclass
class Api:
    url: str
    token: str
    settings: Settings
    engine: Engine
    """The test's own engine on the server's database, to arrange and inspect rows."""
    client: httpx.Client
    """Authenticated as the admin."""

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def serve_api(settings: Settings, engine: Engine) -> Iterator[Api]:
    app = create_app(settings, event_stream=FAST_EVENTS)
    with running_server(app) as url:
        token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            yield Api(url, token, settings, engine, client)


def assert_problem(
    response: httpx.Response, status: int, *, instance: str | None = None
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if instance is not None:
        assert body["instance"] == instance
    return body
