"""The catalog API client against a real HTTP server shaped like Backstage's by-query API
(https://backstage.io/docs/features/software-catalog/software-catalog-api,
QueryEntitiesResponse: items, totalItems, pageInfo.nextCursor)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from shipyard.catalog.backstage.client import BackstageAuthError, BackstageClient, BackstageError


def entity(name: str, annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "etag": "e",
            "annotations": annotations,
        },
        "spec": {"type": "service", "lifecycle": "production", "owner": "group:default/t"},
        "relations": [{"type": "ownedBy", "targetRef": "group:default/t"}],
    }


PAGES = [
    [
        entity("orders-api", {"shipyard.dev/template": "web-service"}),
        entity("plain", {"github.com/project-slug": "a/b"}),
    ],
    [
        entity("billing", {"shipyard.dev/max-instances": "2"}),
        entity("Bad Name", {"shipyard.dev/port": "80"}),
    ],
]


class Catalog:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.failures: list[int] = []


@pytest.fixture
def catalog() -> Iterator[tuple[str, Catalog]]:
    state = Catalog()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            auth = self.headers.get("Authorization")
            state.requests.append((url.path, query, auth))
            if state.failures:
                self.send(state.failures.pop(0), {"error": {"message": "unavailable"}})
            elif auth != "Bearer s3cret":
                self.send(401, {"error": {"name": "AuthenticationError"}})
            elif url.path != "/api/catalog/entities/by-query":
                self.send(404, {})
            else:
                page = int(query["cursor"][0].removeprefix("page-")) if "cursor" in query else 0
                info = {"nextCursor": f"page-{page + 1}"} if page + 1 < len(PAGES) else {}
                self.send(200, {"items": PAGES[page], "totalItems": 4, "pageInfo": info})

        def send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_lists_annotated_components_across_pages(catalog: tuple[str, Catalog]) -> None:
    url, state = catalog
    with BackstageClient(url, "s3cret", page_size=2, sleep=lambda _: None) as client:
        result = client.components()
    assert [c.id for c in result.components] == ["default/orders-api", "default/billing"]
    assert result.total_items == 4
    assert result.components[0].shipyard_annotations == {"template": "web-service"}
    (problem,) = result.problems
    assert problem.path == "metadata.name" and "'Bad Name'" in problem.message
    assert problem.file == f"{url} component:default/bad name" and problem.line is None
    first, second = state.requests
    assert first[1] == {"filter": ["kind=component"], "limit": ["2"]}
    assert second[1] == {"cursor": ["page-1"], "limit": ["2"]}
    assert first[2] == "Bearer s3cret"


def test_unauthorized_is_a_clear_error(catalog: tuple[str, Catalog]) -> None:
    url, _ = catalog
    with (
        BackstageClient(url, "wrong") as client,
        pytest.raises(BackstageAuthError, match="check the token"),
    ):
        client.components()


def test_retries_a_503_then_succeeds(catalog: tuple[str, Catalog]) -> None:
    url, state = catalog
    state.failures = [503, 502]
    delays: list[float] = []
    with BackstageClient(url, "s3cret", sleep=delays.append, backoff=0.1) as client:
        result = client.components()
    assert len(result.components) == 2
    assert delays == [0.1, 0.2]


def test_gives_up_after_retries(catalog: tuple[str, Catalog]) -> None:
    url, state = catalog
    state.failures = [503] * 5
    with (
        BackstageClient(url, "s3cret", retries=2, sleep=lambda _: None) as client,
        pytest.raises(BackstageError, match="answered 503"),
    ):
        client.components()
    assert len(state.requests) == 3


def test_connection_refused_is_retried_then_reported() -> None:
    delays: list[float] = []
    with (
        BackstageClient("http://127.0.0.1:9", retries=1, timeout=2, sleep=delays.append) as c,
        pytest.raises(BackstageError, match="cannot reach the Backstage catalog"),
    ):
        c.components()
    assert delays == [0.5]
