"""Git sources against real repositories: mirrors, tags, clean exports; hostile sources
refused before git runs; local repositories only under the source roots."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shipyard.catalog.sources import SourceError
from shipyard.settings import Settings
from shipyard.sources import GitError, GitSources, SourceRefusedError, TagNotFoundError
from shipyard.targets.local.trigger import SeenTags, TagWatcher

pytestmark = pytest.mark.integration


def test_ls_remote_lists_tags_with_their_commits(
    sources: GitSources, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    v1 = repo.release("v1")
    v2 = repo.release("v2", annotated=True)

    assert sources.ls_remote_tags(str(repo.path)) == {"v1": v1, "v2": v2}


def test_export_writes_a_clean_tree_of_the_tag(
    sources: GitSources, make_repo: Callable[..., Any], tmp_path: Path
) -> None:
    repo = make_repo()
    v1 = repo.release("v1")
    repo.release("v2")

    commit = sources.export(str(repo.path), "v1", tmp_path / "tree")

    assert commit == v1
    assert (tmp_path / "tree" / "www" / "version").read_text() == "v1"
    assert not (tmp_path / "tree" / ".git").exists()
    assert sources.mirror_path(str(repo.path)).is_relative_to(sources.root)


def test_a_tag_pushed_later_is_fetched_into_the_mirror(
    sources: GitSources, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    repo.release("v1")
    sources.fetch(str(repo.path))
    v2 = repo.release("v2")

    assert sources.resolve_tag(str(repo.path), "v2") == v2


def test_unknown_tag_and_unknown_repository_are_clear_errors(
    sources: GitSources, make_repo: Callable[..., Any], tmp_path: Path
) -> None:
    repo = make_repo()
    repo.release("v1")
    with pytest.raises(TagNotFoundError, match="has no tag 'v9'"):
        sources.resolve_tag(str(repo.path), "v9")
    with pytest.raises(GitError, match=r"cloning .*nowhere failed"):
        sources.fetch(str(tmp_path / "nowhere"))


def _hostile(marker: Path) -> list[str]:
    return [
        f"-u.@x:;touch {marker};",
        f"--upload-pack=touch {marker};",
        f"ext::sh -c touch% {marker}",
        f"file://{marker.parent}",
        f"ssh://-oProxyCommand=touch%20{marker}/x",
    ]


def test_hostile_sources_run_nothing(sources: GitSources, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for source in _hostile(marker):
        attempts: list[Callable[[], object]] = [
            partial(sources.fetch, source),
            partial(sources.ls_remote_tags, source),
            partial(sources.resolve_tag, source, "v1"),
            partial(sources.export, source, "v1", tmp_path / "tree"),
            partial(sources.show, source, "catalog-info.yaml"),
        ]
        for attempt in attempts:
            with pytest.raises(SourceError, match="is refused"):
                attempt()
    assert not marker.exists()
    assert not sources.root.exists() or list(sources.root.glob("*.git")) == []


def test_a_tag_watcher_on_a_hostile_source_runs_nothing(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for source in _hostile(marker):
        watcher = TagWatcher(
            "default/greeter",
            source,
            ".*",
            sources=GitSources.from_settings(settings),
            seen=SeenTags.from_settings(settings),
            on_build_requested=lambda event: pytest.fail(f"requested {event}"),
        )
        with pytest.raises(SourceError, match="is refused"):
            watcher.poll_once()
    assert not marker.exists()


def test_local_repositories_only_under_the_source_roots(
    make_repo: Callable[..., Any], tmp_path: Path
) -> None:
    repo = make_repo()
    repo.release("v1")
    cache = tmp_path / "other-cache"
    closed = GitSources(cache, source_roots=[])
    with pytest.raises(SourceRefusedError, match="SHIPYARD_SOURCE_ROOTS"):
        closed.ls_remote_tags(str(repo.path))
    elsewhere = GitSources(cache, source_roots=[tmp_path / "somewhere-else"])
    with pytest.raises(SourceRefusedError, match="outside the folders"):
        elsewhere.fetch(str(repo.path))
    (tmp_path / "somewhere-else").mkdir()
    (tmp_path / "somewhere-else" / "link").symlink_to(repo.path)
    with pytest.raises(SourceRefusedError, match="outside the folders"):
        elsewhere.fetch(str(tmp_path / "somewhere-else" / "link"))
    assert not (cache / "git").exists() or list((cache / "git").glob("*.git")) == []
    allowed = GitSources(cache, source_roots=[tmp_path])
    assert list(allowed.ls_remote_tags(str(repo.path))) == ["v1"]
