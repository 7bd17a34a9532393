"""Errors are problem+json, mapped once; every response echoes its request id."""

from __future__ import annotations

import re

import httpx
import structlog
from structlog.testing import capture_logs

from shipyard.api import create_app
from shipyard.testing.api import Api, assert_problem
from shipyard.testing.server import running_server


def test_a_domain_error_is_a_problem_naming_its_type(sqlite_api: Api) -> None:
    response = sqlite_api.client.get("/api/v1/components/default/nobody")
    body = assert_problem(response, 404, instance="/api/v1/components/default/nobody")
    assert body["type"] == "urn:shipyard:problem:not-found"
    assert body["detail"] == "component default/nobody not found"


def test_an_invalid_body_is_a_problem_listing_the_fields(sqlite_api: Api) -> None:
    response = sqlite_api.client.post("/api/v1/components", json={"path": "a", "url": "b"})
    body = assert_problem(response, 422)
    assert body["type"] == "urn:shipyard:problem:invalid-request"
    assert "exactly one of 'path' or 'url'" in body["detail"]
    assert body["errors"][0]["loc"] == ["body"]


def test_a_wrong_method_is_a_problem(sqlite_api: Api) -> None:
    response = sqlite_api.client.delete("/api/v1/components")
    body = assert_problem(response, 405)
    assert body["type"] == "about:blank"


def test_a_given_request_id_is_echoed_and_a_missing_one_generated(sqlite_api: Api) -> None:
    given = sqlite_api.client.get("/healthz", headers={"X-Request-ID": "trace-42.a"})
    generated = sqlite_api.client.get("/healthz")
    unusable = sqlite_api.client.get("/healthz", headers={"X-Request-ID": "x" * 500})

    assert given.headers["X-Request-ID"] == "trace-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", unusable.headers["X-Request-ID"])


def test_an_unexpected_error_is_a_logged_500_problem_with_the_request_id(sqlite_api: Api) -> None:
    app = create_app(sqlite_api.settings)

    def boom() -> None:
        raise RuntimeError("the disk caught fire")

    app.add_api_route("/boom", boom)
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        running_server(app) as url,
    ):
        response = httpx.get(f"{url}/boom", headers={"X-Request-ID": "req-500"})

    body = assert_problem(response, 500, instance="/boom")
    assert "req-500" in body["detail"] and "fire" not in body["detail"]
    failed = next(entry for entry in logs if entry["event"] == "request.failed")
    assert failed["request_id"] == "req-500"
    assert failed["log_level"] == "error" and failed["exc_info"]
    request = next(entry for entry in logs if entry["event"] == "request")
    assert request["status"] == 500 and request["request_id"] == "req-500"
