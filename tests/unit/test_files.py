"""write_atomic and private folders: the one way Shipyard writes its files."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from shipyard._files import ensure_private_dir, read_json, write_atomic, write_json


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_replaces_with_the_given_mode_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "token"
    old = os.umask(0)  # the mode must not depend on the caller's umask
    try:
        assert write_atomic(path, "first\n")
        assert _mode(path) == 0o600
        assert write_atomic(path, b"second", mode=0o640)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"second"
    assert _mode(path) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["token"]


def test_exclusive_keeps_the_first_content(tmp_path: Path) -> None:
    path = tmp_path / "passphrase"
    results: list[bool] = []

    def write(text: str) -> None:
        results.append(write_atomic(path, text, exclusive=True))

    threads = [threading.Thread(target=write, args=(f"p{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert path.read_text() in {f"p{i}" for i in range(8)}
    assert [p.name for p in tmp_path.iterdir()] == ["passphrase"]


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json(path, {"n": 0, "pad": "x" * 100_000})
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(read_json(path)["n"])

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1, 30):
        write_json(path, {"n": n, "pad": "x" * 100_000})
    stop.set()
    reader.join()
    assert seen and all(0 <= n < 30 for n in seen)
    assert _mode(path) == 0o600


def test_private_dir_is_created_0700_and_an_open_one_tightened(tmp_path: Path) -> None:
    created = ensure_private_dir(tmp_path / "a" / "data")
    assert _mode(created) == 0o700
    existing = tmp_path / "open"
    existing.mkdir()
    existing.chmod(0o755)
    ensure_private_dir(existing)
    assert _mode(existing) == 0o700
