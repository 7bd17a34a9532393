"""The catalog API client against a real HTTP server shaped like Backstage's by-query API
(https://backstage.io/docs/features/software-catalog/software-catalog-api,
QueryEntitiesResponse: items, totalItems, pageInfo.nextCursor)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.catalog.backstage.client import BackstageAuthError, BackstageClient, BackstageError
from shipyard.testing.backstage_catalog import FakeCatalog, component_entity, fake_catalog

PAGES = [
    [
        component_entity("orders-api", {"shipyard.dev/template": "web-service"}),
        component_entity("plain", {"github.com/project-slug": "a/b"}),
    ],
    [
        component_entity("billing", {"shipyard.dev/max-instances": "2"}),
        component_entity("Bad Name", {"shipyard.dev/port": "80"}),
    ],
]
UNAVAILABLE = {"error": {"message": "unavailable"}}


@pytest.fixture
def catalog() -> Iterator[FakeCatalog]:
    with fake_catalog("s3cret", PAGES) as catalog:
        yield catalog


def test_lists_annotated_components_across_pages(catalog: FakeCatalog) -> None:
    with BackstageClient(catalog.url, "s3cret", page_size=2, sleep=lambda _: None) as client:
        result = client.components()
    assert [c.id for c in result.components] == ["default/orders-api", "default/billing"]
    assert result.total_items == 4
    assert result.components[0].shipyard_annotations == {"template": "web-service"}
    (problem,) = result.problems
    assert problem.path == "metadata.name" and "'Bad Name'" in problem.message
    assert problem.file == f"{catalog.url} component:default/bad name" and problem.line is None
    first, second = catalog.requests
    assert first.query == {"filter": ["kind=component"], "limit": ["2"]}
    assert second.query == {"cursor": ["page-1"], "limit": ["2"]}
    assert first.authorization == "Bearer s3cret"


def test_unauthorized_is_a_clear_error(catalog: FakeCatalog) -> None:
    with (
        BackstageClient(catalog.url, "wrong") as client,
        pytest.raises(BackstageAuthError, match="check the token"),
    ):
        client.components()


def test_retries_a_503_then_succeeds(catalog: FakeCatalog) -> None:
    catalog.failures = [(503, UNAVAILABLE), (502, UNAVAILABLE)]
    delays: list[float] = []
    with BackstageClient(catalog.url, "s3cret", sleep=delays.append, backoff=0.1) as client:
        result = client.components()
    assert len(result.components) == 2
    assert delays == [0.1, 0.2]


def test_gives_up_after_retries(catalog: FakeCatalog) -> None:
    catalog.failures = [(503, UNAVAILABLE)] * 5
    with (
        BackstageClient(catalog.url, "s3cret", retries=2, sleep=lambda _: None) as client,
        pytest.raises(BackstageError, match="answered 503"),
    ):
        client.components()
    assert len(catalog.requests) == 3


def test_connection_refused_is_retried_then_reported() -> None:
    delays: list[float] = []
    with (
        BackstageClient("http://127.0.0.1:9", retries=1, timeout=2, sleep=delays.append) as c,
        pytest.raises(BackstageError, match="cannot reach the Backstage catalog"),
    ):
        c.components()
    assert delays == [0.5]
