"""``shipyard db upgrade``, run as operators run it: the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shipyard.store import current_revision, head_revision, open_database

SHIPYARD = Path(sys.executable).with_name("shipyard")


def _db_upgrade(data_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SHIPYARD), "db", "upgrade", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SHIPYARD_DATA_DIR": str(data_dir), **env},
    )


def test_two_upgrades_at_once_both_migrate_the_default_sqlite_database(tmp_path: Path) -> None:
    runs = [_db_upgrade(tmp_path, "--output", "json") for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    for stdout, _ in outputs:
        report = json.loads(stdout)
        assert report["revision"] == head_revision()
        assert report["database"].endswith(str(tmp_path / "shipyard.db"))
    database = open_database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    try:
        assert current_revision(database) == head_revision()
    finally:
        database.dispose()


def test_an_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    run = _db_upgrade(tmp_path, SHIPYARD_DATABASE_URL="postgresql://nobody:secret@127.0.0.1:1/none")
    _, stderr = run.communicate(timeout=60)

    assert run.returncode == 1
    assert "error:" in stderr and "could not migrate the database" in stderr
    assert "secret" not in stderr
