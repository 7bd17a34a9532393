"""The tag watcher against real repositories: patterns, once-only, persistence, thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from shipyard.settings import Settings
from shipyard.targets.local import GitSources
from shipyard.targets.local.trigger import (
    BuildRequested,
    InvalidTagPatternError,
    SeenTags,
    TagWatcher,
)

pytestmark = pytest.mark.integration

SEMVER = r"^v\d+\.\d+\.\d+$"


def watcher(
    settings: Settings, source: str, events: list[BuildRequested], *, pattern: str = SEMVER
) -> TagWatcher:
    return TagWatcher.from_settings(settings, "default/greeter", source, pattern, events.append)


def test_only_matching_tags_are_requested_and_each_only_once(
    settings: Settings, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    v1 = repo.release("v1.0.0")
    repo.release("experiment")
    events: list[BuildRequested] = []
    tags = watcher(settings, str(repo.path), events)

    assert tags.poll_once() == [BuildRequested("default/greeter", str(repo.path), "v1.0.0", v1)]
    assert tags.poll_once() == []

    v2 = repo.release("v2.0.0", annotated=True)
    repo.release("v2.0.0-rc1")
    assert [(e.tag, e.commit) for e in tags.poll_once()] == [("v2.0.0", v2)]
    assert [e.tag for e in events] == ["v1.0.0", "v2.0.0"]


def test_seen_tags_survive_a_restart_and_are_shared(
    settings: Settings, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    repo.release("v1.0.0")
    first: list[BuildRequested] = []
    watcher(settings, str(repo.path), first).poll_once()

    again: list[BuildRequested] = []
    assert watcher(settings, str(repo.path), again).poll_once() == []
    assert again == []
    assert SeenTags.from_settings(settings).of("default/greeter") == {"v1.0.0": first[0].commit}


def test_a_failed_callback_gets_the_tag_again(
    settings: Settings, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    repo.release("v1.0.0")

    def refuse(event: BuildRequested) -> None:
        raise RuntimeError("queue is down")

    failing = TagWatcher.from_settings(settings, "default/greeter", str(repo.path), SEMVER, refuse)
    with pytest.raises(RuntimeError):
        failing.poll_once()
    events: list[BuildRequested] = []
    assert [e.tag for e in watcher(settings, str(repo.path), events).poll_once()] == ["v1.0.0"]


def test_the_thread_requests_a_tag_pushed_while_it_runs(
    settings: Settings, make_repo: Callable[..., Any]
) -> None:
    repo = make_repo()
    received = threading.Event()
    events: list[BuildRequested] = []

    def on_event(event: BuildRequested) -> None:
        events.append(event)
        received.set()

    tags = TagWatcher(
        "default/greeter",
        str(repo.path),
        SEMVER,
        sources=GitSources.from_settings(settings),
        seen=SeenTags.from_settings(settings),
        on_build_requested=on_event,
        interval_s=0.1,
    )
    tags.start()
    try:
        repo.release("v1.0.0")
        assert received.wait(timeout=10), "the watcher did not see v1.0.0 within 10 s"
    finally:
        tags.stop()
    assert [e.tag for e in events] == ["v1.0.0"]


def test_default_intervals_and_an_invalid_pattern(settings: Settings) -> None:
    events: list[BuildRequested] = []
    assert watcher(settings, "/srv/repo", events).interval_s == 5.0
    assert watcher(settings, "https://example.invalid/repo.git", events).interval_s == 60.0
    with pytest.raises(InvalidTagPatternError, match=r"default/greeter: tag-pattern '\^v\('"):
        watcher(settings, "/srv/repo", events, pattern="^v(")
