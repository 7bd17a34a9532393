"""``shipyard doctor``, run as users run it: the installed console script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory

from shipyard.engine.toolchain import find_pulumi
from shipyard.settings import Settings
from shipyard.store import open_database, upgrade
from shipyard.store.migrate import alembic_config, head_revision

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


def _checks(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in json.loads(done.stdout)["checks"]}


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_postgresql_fails_with_the_fix_and_its_password_masked(
    tmp_path: Path,
) -> None:
    url = f"postgresql://shipyard:s3cret-pw@127.0.0.1:{_closed_port()}/shipyard"

    done = _doctor("-o", "json", SHIPYARD_DATA_DIR=str(tmp_path), SHIPYARD_DATABASE_URL=url)

    database = _checks(done)["database"]
    assert done.returncode == 1
    assert database["ok"] is False and database["required"] is True
    assert database["detail"].startswith("cannot connect")
    assert "SHIPYARD_DATABASE_URL" in database["fix"]
    assert "***" in database["value"]
    assert "s3cret-pw" not in done.stdout + done.stderr
    text = _doctor(SHIPYARD_DATA_DIR=str(tmp_path), SHIPYARD_DATABASE_URL=url)
    assert "FAIL database" in text.stdout
    assert "s3cret-pw" not in text.stdout + text.stderr


def test_an_unwritable_state_directory_fails_with_the_fix(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    backend = (blocked / "state").as_uri()

    done = _doctor(
        "-o", "json", SHIPYARD_DATA_DIR=str(tmp_path / "data"), SHIPYARD_BACKEND_URL=backend
    )

    state = _checks(done)["state_backend"]
    assert done.returncode == 1
    assert state["ok"] is False and state["value"] == backend
    assert "not writable" in state["detail"]
    assert "SHIPYARD_BACKEND_URL" in state["fix"]


def _migrated(data_dir: Path, revision: str) -> None:
    database = open_database(Settings(data_dir=data_dir))
    try:
        upgrade(database, revision)
    finally:
        database.dispose()


def test_a_database_one_migration_behind_warns_with_the_upgrade_and_at_head_is_ok(
    tmp_path: Path,
) -> None:
    head = head_revision()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    _migrated(tmp_path, previous)

    done = _doctor("-o", "json", SHIPYARD_DATA_DIR=str(tmp_path))

    database = _checks(done)["database"]
    assert database["ok"] is False and database["required"] is False  # a WARN
    assert previous in database["detail"] and head in database["detail"]
    assert database["fix"] == "shipyard db upgrade"
    assert "WARN database" in _doctor(SHIPYARD_DATA_DIR=str(tmp_path)).stdout

    _migrated(tmp_path, "head")
    database = _checks(_doctor("-o", "json", SHIPYARD_DATA_DIR=str(tmp_path)))["database"]
    assert database["ok"] is True
    assert head in database["detail"]


def test_the_state_backend_lists_its_stacks_and_the_passphrase_must_open_them(
    tmp_path: Path,
) -> None:
    """A stack made by the Pulumi CLI with Shipyard's passphrase, where the engine keeps
    it: the doctor lists it and opens it; another passphrase in the file is a FAIL."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    cli = find_pulumi(settings)
    assert cli is not None
    passphrase = data / "pulumi-passphrase"
    data.mkdir()
    passphrase.write_text("the right one\n")
    (data / "state").mkdir()
    work = data / "stacks" / "default.greeter" / "dev"
    work.mkdir(parents=True)
    (work / "Pulumi.yaml").write_text("name: default.greeter\nruntime: python\n")
    subprocess.run(
        [str(cli.path), "stack", "init", "dev", "--secrets-provider", "passphrase"],
        cwd=work,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PULUMI_HOME": str(tmp_path / "pulumi-home"),
            "PULUMI_BACKEND_URL": (data / "state").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        },
        capture_output=True,
        check=True,
        timeout=120,
    )

    done = _doctor("-o", "json", SHIPYARD_DATA_DIR=str(data))

    checks = _checks(done)
    assert checks["state_backend"]["ok"] is True
    assert "1 stack(s) listed" in checks["state_backend"]["detail"]
    assert checks["secrets_provider"]["ok"] is True
    assert checks["secrets_provider"]["detail"] == "opens stack default.greeter/dev"

    passphrase.write_text("another one\n")
    done = _doctor("-o", "json", SHIPYARD_DATA_DIR=str(data))

    secrets = _checks(done)["secrets_provider"]
    assert done.returncode == 1
    assert secrets["ok"] is False
    assert "does not open" in secrets["detail"] and "Pulumi.dev.yaml" in secrets["detail"]
    assert "another one" not in done.stdout and "the right one" not in done.stdout
