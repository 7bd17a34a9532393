"""The tags triggers requested live in the store, so two hosts (two connections pools on
one database) request a tag once between them; an earlier version's data-dir file is
imported once, so no old tag is requested again after an upgrade (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from sqlalchemy import Engine

from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.store.seen_tags import StoredSeenTags, import_seen_tags_file
from shipyard.targets.local.trigger import TagWatcher
from shipyard.testing.samples import write_platform


def test_two_hosts_record_a_tag_once_between_them(database: Engine) -> None:
    other_host = open_database(database.url.render_as_string(hide_password=False))
    try:
        here, there = StoredSeenTags(database), StoredSeenTags(other_host)
        results: list[bool] = []
        barrier = threading.Barrier(2)

        def add(record: StoredSeenTags) -> None:
            barrier.wait()
            results.append(record.add("default/shop", "v1.0.0", "a" * 40))

        threads = [threading.Thread(target=add, args=(r,)) for r in (here, there)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results) == [False, True]
        assert there.of("default/shop") == here.of("default/shop") == {"v1.0.0": "a" * 40}
        assert here.of("default/other") == {}

        here.discard("default/shop", "v1.0.0")  # the request failed: the tag comes again
        assert there.of("default/shop") == {}
        assert there.add("default/shop", "v1.0.0", "b" * 40)
    finally:
        other_host.dispose()


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@t.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def test_the_file_of_an_earlier_version_is_imported_once_and_no_old_tag_comes_again(
    database: Engine, tmp_path: Path
) -> None:
    repo = tmp_path / "shop"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    _git(repo, "tag", "v1.0.0")
    old = _git(repo, "rev-parse", "HEAD")
    legacy = tmp_path / "data" / "local" / "seen-tags.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"default/shop": {"v1.0.0": old}}))

    assert import_seen_tags_file(database, legacy) == 1
    assert not legacy.exists()
    assert legacy.with_name("seen-tags.json.imported").is_file()
    assert import_seen_tags_file(database, legacy) == 0  # gone: nothing to do

    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        platform=write_platform(tmp_path / "platform.yaml"),
        source_roots=[tmp_path],
    )
    requested: list[str] = []
    watcher = TagWatcher.from_settings(
        settings,
        "default/shop",
        str(repo),
        r"^v\d+\.\d+\.\d+$",
        lambda event: requested.append(event.tag),
        seen=StoredSeenTags(database),
    )
    assert watcher.poll_once() == []  # v1.0.0 was requested before the upgrade
    _git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    _git(repo, "tag", "v1.1.0")
    assert [event.tag for event in watcher.poll_once()] == ["v1.1.0"]
    assert requested == ["v1.1.0"]
