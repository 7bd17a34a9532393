"""``GET /api/v1/components?after=namespace/name``: keyset pages, the same components in
the same order as offset pages, at any depth for the cost of one index lookup."""

from __future__ import annotations

from pathlib import Path

from shipyard.testing.api import Api, assert_problem
from shipyard.testing.samples import write_component

REFS = ["alpha/z-api", "beta/a-api", "beta/b-api", "beta/c-api", "gamma/a-api"]


def _register(api: Api, folder: Path) -> None:
    for ref in reversed(REFS):
        namespace, name = ref.split("/")
        write_component(folder / ref, name, namespace=namespace)
        registered = api.client.post("/api/v1/components", json={"path": str(folder / ref)})
        assert registered.status_code == 201, registered.text


def test_keyset_pages_walk_every_component_in_order(api: Api, tmp_path: Path) -> None:
    _register(api, tmp_path)

    seen: list[str] = []
    pages = 0
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = api.client.get("/api/v1/components", params=params).json()
        pages += 1
        seen += [item["ref"] for item in page["items"]]
        if page["next_after"] is None:
            assert page["next_offset"] is None
            break
        assert page["next_after"] == seen[-1]
        params = {"limit": 2, "after": page["next_after"]}

    assert seen == REFS  # by namespace, then name: alpha/z before beta/a
    assert pages == 3
    by_offset = api.client.get("/api/v1/components", params={"limit": 2, "offset": 2}).json()
    assert [item["ref"] for item in by_offset["items"]] == REFS[2:4]
    assert by_offset["next_after"] == "beta/c-api"


def test_after_a_component_that_is_gone_gives_the_ones_after_its_place(
    api: Api, tmp_path: Path
) -> None:
    _register(api, tmp_path)

    page = api.client.get("/api/v1/components", params={"after": "beta/b-zzz"}).json()

    assert [item["ref"] for item in page["items"]] == ["beta/c-api", "gamma/a-api"]
    assert page["next_after"] is None


def test_an_after_that_is_not_namespace_slash_name_is_a_problem(api: Api) -> None:
    for bad in ("no-slash", "/name", "namespace/", "a/b\x00c", "x" * 600):
        response = api.client.get("/api/v1/components", params={"after": bad})
        body = assert_problem(response, 422)
        assert "after" in body["detail"] or "after" in str(body.get("errors", "")), body


def test_an_after_of_any_other_characters_is_only_a_position(api: Api, tmp_path: Path) -> None:
    _register(api, tmp_path)
    for hostile in ("a/'; DROP TABLE components; --", "\u202e/\U0001f600", "beta/b/c"):
        response = api.client.get("/api/v1/components", params={"after": hostile})
        assert response.status_code == 200, response.text
        after = tuple(hostile.split("/", 1))
        expected = [ref for ref in REFS if tuple(ref.split("/", 1)) > after]
        assert [item["ref"] for item in response.json()["items"]] == expected
