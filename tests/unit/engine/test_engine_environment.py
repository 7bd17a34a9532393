"""The explicit environment of CLI runs, and the generated passphrase file."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.engine._environment import (
    base_environment,
    ensure_passphrase_file,
    pulumi_variables,
)


def test_the_base_environment_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-123")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "leaked")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/creds.json")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("LANG", "C.UTF-8")

    local = base_environment("file:///state", None)
    assert local.get("LANG") == "C.UTF-8"
    assert not {
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_PROFILE",
    } & set(local)

    gcp = base_environment("gs://bucket", "gcpkms://projects/p/keys/k")
    assert gcp["GOOGLE_APPLICATION_CREDENTIALS"] == "/creds.json"
    assert "AWS_PROFILE" not in gcp
    assert base_environment("s3://bucket", None)["AWS_PROFILE"] == "prod"


def test_pulumi_variables(tmp_path: Path) -> None:
    variables = pulumi_variables(
        pulumi_home=tmp_path / "home",
        backend_url="file:///s",
        path_dirs=(tmp_path / "cli", tmp_path / "shim"),
        passphrase_file=tmp_path / "pp",
    )
    assert variables["PULUMI_HOME"] == str(tmp_path / "home")
    assert variables["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert variables["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert variables["PATH"].startswith(f"{tmp_path / 'cli'}:{tmp_path / 'shim'}:")
    assert variables["SHIPYARD_PYTHON"] == sys.executable
    assert variables["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "pp")
    no_passphrase = pulumi_variables(
        pulumi_home=tmp_path, backend_url="gs://b", path_dirs=(), passphrase_file=None
    )
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in no_passphrase


def test_the_passphrase_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        paths = set(pool.map(lambda _i: ensure_passphrase_file(tmp_path / "data"), range(8)))

    [path] = paths
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    assert len(first.strip()) >= 32
    assert ensure_passphrase_file(tmp_path / "data").read_text() == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["pulumi-passphrase"]


def test_a_too_open_passphrase_file_is_tightened(tmp_path: Path) -> None:
    path = ensure_passphrase_file(tmp_path)
    path.chmod(0o644)
    ensure_passphrase_file(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
