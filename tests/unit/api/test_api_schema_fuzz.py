"""Schemathesis over the OpenAPI document, against a real server, as the admin: whatever
the document admits (and what it does not), the API never answers 5xx, and every error
is ``application/problem+json``.

``make test`` runs a few cases per operation (about 100 in all); ``make fuzz`` runs the
``fuzz``-marked test, 60 per operation (over 1,000 in all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from shipyard.api import create_app
from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.testing.api import Api, serve_api
from shipyard.testing.samples import write_platform

QUICK_PER_OPERATION = 5
FUZZ_PER_OPERATION = 60

_DOCUMENT: dict[str, Any] = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT)
OPERATIONS = sum(
    1
    for operations in _DOCUMENT["paths"].values()
    for method in operations
    if method in {"get", "post", "put", "patch", "delete"}
)
calls: Counter[str] = Counter()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for every operation (state the cases leave is more to fuzz against)."""
    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{root / 'shipyard.db'}"
    settings = Settings(
        data_dir=root / "data",
        cache_dir=root / "cache",
        database_url=url,
        platform=write_platform(root / "platform.yaml"),
        source_roots=[root / "sources"],
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            yield api
    finally:
        database.dispose()
        print(f"\nschemathesis cases sent: {dict(calls)}")  # the run's size


def _call_and_check(case: Any, api: Api, run: str) -> None:
    if case.method == "DELETE" and case.path.startswith("/api/v1/tokens/"):
        case.path_parameters["token_id"] = 10**6  # never revoke the token the run uses
    if case.path.endswith("/events"):
        case.query = {**(case.query or {}), "follow": "false"}  # a stream would never end
    response = case.call(
        base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=60
    )
    calls[run] += 1
    what = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, what
    if response.status_code >= 400:
        assert response.headers.get("content-type") == ["application/problem+json"], what
        body = response.json()
        assert body["status"] == response.status_code, what
        assert isinstance(body["detail"], str) and body["detail"], what


def test_the_document_covers_the_api() -> None:
    assert OPERATIONS >= 20
    assert OPERATIONS * FUZZ_PER_OPERATION >= 1_000
    assert schema is not None


@schema.parametrize()
@settings(
    max_examples=QUICK_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_generated_requests_never_fail_the_server(case: Any, served: Api) -> None:
    _call_and_check(case, served, "quick")


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=FUZZ_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_many_generated_requests_never_fail_the_server(case: Any, served: Api) -> None:
    _call_and_check(case, served, "fuzz")
