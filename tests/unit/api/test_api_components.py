"""Components through the API: register (path, directory, git URL), list in pages, show."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard.testing.api import Api, assert_problem
from shipyard.testing.samples import write_component


def test_registering_a_directory_creates_then_updates_the_component(
    api: Api, tmp_path: Path
) -> None:
    repo = tmp_path / "orders"
    write_component(repo, "orders-api")

    first = api.client.post("/api/v1/components", json={"path": str(repo)})
    write_component(repo, "orders-api", max_instances=4)
    again = api.client.post("/api/v1/components", json={"path": str(repo / "catalog-info.yaml")})

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    [component] = first.json()["components"]
    assert component["ref"] == "default/orders-api"
    assert component["owner"] == "group:default/team-orders"
    assert component["source"] == str(repo)
    shown = api.client.get("/api/v1/components/default/orders-api").json()
    annotations = shown["descriptor"]["metadata"]["annotations"]
    assert annotations["shipyard.dev/max-instances"] == "4"
    assert shown["environments"] == []


def test_a_descriptor_breaking_the_platform_contract_is_refused_with_located_problems(
    api: Api, tmp_path: Path
) -> None:
    path = write_component(tmp_path / "big", "big-api", max_instances=50)

    response = api.client.post("/api/v1/components", json={"path": str(path)})

    body = assert_problem(response, 422)
    assert body["type"] == "urn:shipyard:problem:catalog"
    problem = body["problems"][0]
    assert problem["file"] == str(path)
    assert problem["line"] == 7
    assert problem["path"] == 'metadata.annotations["shipyard.dev/max-instances"]'
    assert api.client.get("/api/v1/components").json()["items"] == []


def test_a_path_the_server_cannot_read_is_a_problem(api: Api, tmp_path: Path) -> None:
    response = api.client.post("/api/v1/components", json={"path": str(tmp_path / "nowhere")})

    body = assert_problem(response, 422)
    assert "does not exist on the server" in body["detail"]


def test_components_are_listed_in_pages(api: Api, tmp_path: Path) -> None:
    for name in ("c", "a", "b"):
        write_component(tmp_path / name, f"{name}-api", namespace="team")
        api.client.post("/api/v1/components", json={"path": str(tmp_path / name)})

    first = api.client.get("/api/v1/components", params={"limit": 2}).json()
    last = api.client.get("/api/v1/components", params={"limit": 2, "offset": 2}).json()

    assert [item["ref"] for item in first["items"]] == ["team/a-api", "team/b-api"]
    assert first["next_offset"] == 2
    assert [item["ref"] for item in last["items"]] == ["team/c-api"]
    assert last["next_offset"] is None
    assert_problem(api.client.get("/api/v1/components", params={"limit": 0}), 422)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_registering_a_git_url_reads_the_descriptor_at_the_default_branch(
    api: Api, tmp_path: Path
) -> None:
    repo = tmp_path / "git-repo"
    write_component(repo, "git-api")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "catalog-info.yaml")
    _git(repo, "commit", "--quiet", "-m", "descriptor")
    url = str(repo)

    response = api.client.post("/api/v1/components", json={"url": url})

    assert response.status_code == 201, response.text
    [component] = response.json()["components"]
    assert component["ref"] == "default/git-api"
    assert component["source"] == url


HOSTILE_URLS = [
    "-u.@x:;touch {marker};",
    "--upload-pack=touch {marker}",
    "ext::sh -c touch% {marker}",
    "fd::3",
    "file:///etc",
    "ssh://-oProxyCommand=touch%20{marker}/x",
]


def test_a_hostile_url_is_refused_and_runs_nothing(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for template in HOSTILE_URLS:
        url = template.format(marker=marker)
        response = api.client.post("/api/v1/components", json={"url": url})
        body = assert_problem(response, 422)
        # the schema refuses some (a leading '-', spaces) before the service parses the rest
        assert "body.url" in body["detail"] or (
            "is refused" in body["detail"] and "https://" in body["detail"]
        ), body
    assert not marker.exists()
    assert not (api.settings.cache_dir / "git").exists() or not list(
        (api.settings.cache_dir / "git").glob("*.git")
    )
    assert api.client.get("/api/v1/components").json()["items"] == []


SECRET_YAML = "apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2-very-secret\n"


def test_a_path_outside_the_source_roots_is_refused_saying_nothing_of_it(
    api: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "catalog-info.yaml").write_text(SECRET_YAML)
    for path in (outside, outside / "catalog-info.yaml", outside / "nothing-here"):
        response = api.client.post("/api/v1/components", json={"path": str(path)})
        body = assert_problem(response, 422)
        assert "outside the folders this server reads components from" in body["detail"]
        assert "SHIPYARD_SOURCE_ROOTS" in body["detail"]
        assert "hunter2" not in response.text and "password" not in response.text
        assert "does not exist" not in response.text
    url = api.client.post("/api/v1/components", json={"url": str(outside)})
    assert "SHIPYARD_SOURCE_ROOTS" in assert_problem(url, 422)["detail"]
    assert "hunter2" not in url.text


def test_a_symlink_out_of_the_source_roots_is_refused(
    api: Api, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "catalog-info.yaml").write_text(SECRET_YAML)
    (tmp_path / "link").symlink_to(outside)
    response = api.client.post("/api/v1/components", json={"path": str(tmp_path / "link")})
    assert "outside the folders" in assert_problem(response, 422)["detail"]
    assert "hunter2" not in response.text


def test_a_hostile_source_annotation_is_a_located_problem_and_runs_nothing(
    api: Api, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    for index, template in enumerate(HOSTILE_URLS):
        path = write_component(
            tmp_path / f"c{index}", f"c{index}-api", source=template.format(marker=marker)
        )
        response = api.client.post("/api/v1/components", json={"path": str(path)})
        body = assert_problem(response, 422)
        assert body["type"] == "urn:shipyard:problem:catalog"
        problems = {(p["file"], p["path"]) for p in body["problems"]}
        assert problems == {(str(path), 'metadata.annotations["shipyard.dev/source"]')}
        assert all("is refused" in p["message"] for p in body["problems"])
    assert not marker.exists()
    assert api.client.get("/api/v1/components").json()["items"] == []
