"""A fake of Backstage's catalog API for tests: a real HTTP server on 127.0.0.1 shaped like
``GET /api/catalog/entities/by-query`` (https://backstage.io/docs/features/software-catalog/software-catalog-api:
``items``, ``totalItems``, ``pageInfo.nextCursor``), with a bearer token, pages the test
edits while it runs, and failures it can inject. Every request is recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["CatalogRequest", "FakeCatalog", "component_entity", "fake_catalog"]

QUERY_PATH = "/api/catalog/entities/by-query"


def component_entity(
    name: str,
    annotations: dict[str, str],
    *,
    etag: str = "e1",
    owner: str = "group:default/t",
) -> dict[str, Any]:
    """A Component entity as the catalog returns it (namespace ``default``)."""
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "etag": etag,
            "annotations": dict(annotations),
        },
        "spec": {"type": "service", "lifecycle": "production", "owner": owner},
        "relations": [{"type": "ownedBy", "targetRef": owner}],
    }


@dataclass(frozen=True, slots=True)
class CatalogRequest:
    path: str
    query: dict[str, list[str]]
    authorization: str | None


@dataclass
class FakeCatalog:
    """The catalog's state. ``pages`` are served in order (cursor ``page-N``);
    ``failures`` answer the next requests, one each, before anything else (status, body);
    ``failure`` answers every request while it is set."""

    token: str
    url: str = ""
    pages: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    requests: list[CatalogRequest] = field(default_factory=list)
    failures: list[tuple[int, Any]] = field(default_factory=list)
    failure: tuple[int, Any] | None = None

    @property
    def authorizations(self) -> list[str | None]:
        return [request.authorization for request in self.requests]

    def entities(self) -> Iterator[dict[str, Any]]:
        for page in self.pages:
            yield from page

    def put(self, entity: dict[str, Any]) -> None:
        """Add ``entity`` to the last page, or replace the entity of its name."""
        name = entity["metadata"]["name"]
        for page in self.pages:
            for index, item in enumerate(page):
                if item["metadata"]["name"] == name:
                    page[index] = entity
                    return
        self.pages[-1].append(entity)

    def remove(self, name: str) -> None:
        for page in self.pages:
            page[:] = [item for item in page if item["metadata"]["name"] != name]

    def annotate(self, name: str, key: str, value: str) -> None:
        for item in self.entities():
            if item["metadata"]["name"] == name:
                item["metadata"]["annotations"][key] = value

    def answer(self, request: CatalogRequest) -> tuple[int, Any]:
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)
        if self.failure is not None:
            return self.failure
        if request.authorization != f"Bearer {self.token}":
            return 401, {"error": {"name": "AuthenticationError"}}
        if request.path != QUERY_PATH:
            return 404, {"error": {"name": "NotFoundError"}}
        cursor = request.query.get("cursor", ["page-0"])[0]
        page = int(cursor.removeprefix("page-"))
        info = {"nextCursor": f"page-{page + 1}"} if page + 1 < len(self.pages) else {}
        total = sum(len(items) for items in self.pages)
        return 200, {"items": self.pages[page], "totalItems": total, "pageInfo": info}


def _handler(catalog: FakeCatalog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            request = CatalogRequest(
                url.path, parse_qs(url.query), self.headers.get("Authorization")
            )
            status, body = catalog.answer(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_catalog(
    token: str, pages: list[list[dict[str, Any]]] | None = None
) -> Iterator[FakeCatalog]:
    """Serve a :class:`FakeCatalog` on a free loopback port while the block runs."""
    catalog = FakeCatalog(token=token, pages=pages if pages is not None else [[]])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(catalog))
    catalog.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-catalog", daemon=True)
    thread.start()
    try:
        yield catalog
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
