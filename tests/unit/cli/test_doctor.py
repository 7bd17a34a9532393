"""``shipyard doctor``, run as users run it: the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SHIPYARD = Path(sys.executable).with_name("shipyard")


def _doctor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHIPYARD), "doctor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_json_names_the_absolute_pulumi_binary_and_every_check(tmp_path: Path) -> None:
    done = _doctor("--output", "json", SHIPYARD_DATA_DIR=str(tmp_path))

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert set(checks) >= {
        "pulumi",
        "data_dir",
        "state_backend",
        "secrets_provider",
        "container_engine",
        "proxy_switch",
        "database",
    }
    pulumi = Path(checks["pulumi"]["value"])
    assert pulumi.is_absolute() and os.access(pulumi, os.X_OK)
    assert checks["state_backend"]["value"] == (tmp_path / "state").as_uri()
    assert report["ok"] is True


def test_missing_required_tool_exits_non_zero_with_a_fix(tmp_path: Path) -> None:
    done = _doctor(SHIPYARD_DATA_DIR=str(tmp_path), SHIPYARD_PULUMI=str(tmp_path / "nope"))

    assert done.returncode == 1
    assert "FAIL pulumi" in done.stdout
    assert "fix:" in done.stdout


def test_unwritable_data_dir_is_reported(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")

    done = _doctor("-o", "json", SHIPYARD_DATA_DIR=str(blocked / "data"))

    report = json.loads(done.stdout)
    data_dir = next(check for check in report["checks"] if check["name"] == "data_dir")
    assert done.returncode == 1
    assert data_dir["ok"] is False
    assert "SHIPYARD_DATA_DIR" in data_dir["fix"]
