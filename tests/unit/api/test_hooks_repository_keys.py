"""How an event's repository is matched to a component's: every spelling of one
repository is one key, other repositories and hostile strings are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.services.hooks import HookRefusedError, generic_event, github_event, repository_key

SAME = [
    "https://github.com/Acme/Shop.git",
    "https://github.com/acme/shop",
    "https://github.com/acme/shop/",
    "git@github.com:acme/shop.git",
    "ssh://git@github.com/acme/shop.git",
    "git://github.com/acme/shop",
    "url:https://github.com/acme/shop/tree/main/",
    "https://github.com/acme/shop/blob/main/catalog-info.yaml",
]


@pytest.mark.parametrize("spelling", SAME)
def test_every_spelling_of_a_repository_is_one_key(spelling: str) -> None:
    assert repository_key(spelling) == "github.com/acme/shop"


@pytest.mark.parametrize(
    "other",
    [
        "https://github.com/acme/shop-api",
        "https://gitlab.com/acme/shop",
        "https://github.com/acme",
        "https://github.com/other/shop",
    ],
)
def test_other_repositories_are_other_keys(other: str) -> None:
    assert repository_key(other) != "github.com/acme/shop"


@pytest.mark.parametrize("hostile", ["", "   ", "https://", "x\x00y", "a" * 5000, "line\nbreak"])
def test_hostile_strings_are_no_key(hostile: str) -> None:
    assert repository_key(hostile) is None


def test_a_local_path_is_the_folder_it_resolves_to(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    link = tmp_path / "link"
    link.symlink_to(repo)
    key = repository_key(str(repo))
    assert key == f"path:{repo.resolve()}"
    assert repository_key(str(link)) == key
    assert repository_key(f"file://{repo}") == key
    assert repository_key(".", base=repo) == key
    assert repository_key("relative/path") is None  # no folder to resolve it against


def test_events_name_their_repository_by_slug_and_urls() -> None:
    event = github_event(
        "push",
        "d-1",
        {
            "ref": "refs/tags/v1",
            "repository": {"full_name": "Acme/Shop", "ssh_url": "git@github.com:Acme/Shop.git"},
        },
    )
    assert event.tag == "v1"
    assert event.keys == {"github-slug:acme/shop", "github.com/acme/shop"}
    generic = generic_event("generic", "m-1", {"repository": "acme/shop", "tag": "v1"})
    assert {"github-slug:acme/shop", "gitlab-slug:acme/shop"} <= generic.keys


@pytest.mark.parametrize(
    "tag", ["", "-x", "--upload-pack=touch /tmp/p", "a b", "v1\n", "x" * 300, 7, None]
)
def test_a_tag_that_is_no_tag_name_is_refused(tag: object) -> None:
    with pytest.raises(HookRefusedError) as caught:
        github_event(
            "push", "d-1", {"ref": f"refs/tags/{tag}", "repository": {"full_name": "a/b"}}
        ) if isinstance(tag, str) else generic_event(
            "generic", "m-1", {"repository": "a/b", "tag": tag}
        )
    assert caught.value.status == 422
