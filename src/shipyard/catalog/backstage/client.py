"""A client for a Backstage catalog's REST API: Components that carry ``shipyard.dev/*``.

It follows Backstage's documented catalog API:

- "API" (software catalog): https://backstage.io/docs/features/software-catalog/software-catalog-api
  -- ``GET {base}/api/catalog/entities/by-query``, ``filter=kind=component``, ``limit``,
  ``cursor``, ``Authorization: Bearer <token>``.
- ``QueryEntitiesResponse``: https://backstage.io/docs/reference/catalog-client.queryentitiesresponse
  -- ``{"items": [...], "totalItems": n, "pageInfo": {"nextCursor"?, "prevCursor"?}}``;
  a follow-up request passes only ``cursor`` (``QueryEntitiesCursorRequest``), as the
  cursor carries the filter.

Entities become the same :class:`Component` model as descriptor files, validated by the same
rules; their "file" is the entity's ref on the catalog (no line numbers exist there).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from shipyard.catalog._problems import Problem
from shipyard.catalog._yaml import LocatedDocument
from shipyard.catalog.backstage._model import ANNOTATION_PREFIX, Component
from shipyard.catalog.backstage._validate import parse_entity
from shipyard.errors import ShipyardError

__all__ = [
    "BackstageAuthError",
    "BackstageClient",
    "BackstageError",
    "CatalogComponents",
]

QUERY_PATH = "/api/catalog/entities/by-query"


class BackstageError(ShipyardError):
    """The catalog API could not be read."""


class BackstageAuthError(BackstageError):
    """The catalog refused the token (401/403)."""


@dataclass(frozen=True)
class CatalogComponents:
    """Components with ``shipyard.dev/*`` annotations, and problems of the invalid ones."""

    components: tuple[Component, ...]
    problems: tuple[Problem, ...]
    total_items: int


class BackstageClient:
    """Reads a Backstage catalog. ``transport`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        page_size: int = 100,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self._base_url = base_url.rstrip("/")
        self._retries, self._backoff, self._page_size = retries, backoff, page_size
        self._sleep = sleep

    def __enter__(self) -> BackstageClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, params: dict[str, str | int]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = self._http.get(QUERY_PATH, params=params)
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise BackstageError(
                        f"cannot reach the Backstage catalog at {self._base_url}: {exc}"
                    ) from exc
            else:
                if response.status_code in (401, 403):
                    raise BackstageAuthError(
                        f"the Backstage catalog at {self._base_url} refused the request "
                        f"({response.status_code}): check the token (a Backstage service or "
                        "user token, sent as a bearer token)"
                    )
                if response.status_code < 500 or attempt >= self._retries:
                    return self._json(response)
            attempt += 1
            self._sleep(self._backoff * 2 ** (attempt - 1))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.is_error:
            raise BackstageError(
                f"the Backstage catalog at {self._base_url} answered {response.status_code} "
                f"({response.reason_phrase or 'error'}) for {QUERY_PATH}: check the URL is a "
                "Backstage backend and its catalog plugin is running"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise BackstageError(
                f"the Backstage catalog at {self._base_url} sent an answer that is not JSON "
                f"(status {response.status_code}): is it a Backstage backend?"
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise BackstageError(
                "the Backstage catalog's answer has no items list: is "
                f"{self._base_url} a Backstage backend?"
            )
        return body

    def iter_entities(self, kind: str = "component") -> Iterator[tuple[dict[str, Any], int]]:
        """Every entity of ``kind`` (raw JSON) with the catalog's totalItems, page by page."""
        params: dict[str, str | int] = {"filter": f"kind={kind}", "limit": self._page_size}
        seen: set[str] = set()
        while True:
            body = self._get(params)
            reported = body.get("totalItems")
            total = reported if isinstance(reported, int) else 0
            for item in body["items"]:
                if isinstance(item, dict):
                    yield item, total
            cursor = (body.get("pageInfo") or {}).get("nextCursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                return
            seen.add(cursor)
            params = {"cursor": cursor, "limit": self._page_size}

    def components(self) -> CatalogComponents:
        """Components carrying ``shipyard.dev/*`` annotations, validated like files."""
        components: list[Component] = []
        problems: list[Problem] = []
        total = 0
        for item, reported in self.iter_entities("component"):
            total = reported
            annotations = (item.get("metadata") or {}).get("annotations") or {}
            if not isinstance(annotations, dict) or not any(
                str(key).startswith(ANNOTATION_PREFIX) for key in annotations
            ):
                continue
            entity, found = parse_entity(_document(item, self._base_url))
            problems.extend(found)
            if isinstance(entity, Component):
                components.append(entity)
        return CatalogComponents(tuple(components), tuple(problems), total)


def _document(item: dict[str, Any], base_url: str) -> LocatedDocument:
    found = item.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    ref = (
        f"{item.get('kind', '?')}:{metadata.get('namespace', 'default')}/"
        f"{metadata.get('name', '?')}"
    )
    # Backstage adds uid/etag/relations/status to stored entities: not part of a descriptor.
    data = {key: value for key, value in item.items() if key not in ("relations", "status")}
    return LocatedDocument(file=f"{base_url} {ref.lower()}", data=data)
