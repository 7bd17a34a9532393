"""Git sources against real repositories: mirrors, tags, clean exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.targets.local import GitSources
from shipyard.targets.local.errors import GitError, TagNotFoundError

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

    commit = sources.export(repo.path.as_uri(), "v1", tmp_path / "tree")

    assert commit == v1
    assert (tmp_path / "tree" / "www" / "version").read_text() == "v1"
    assert not (tmp_path / "tree" / ".git").exists()
    assert sources.mirror_path(repo.path.as_uri()).is_relative_to(sources.root)


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
