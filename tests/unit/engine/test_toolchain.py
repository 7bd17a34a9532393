"""Resolution order and the build of the Pulumi CLI.

The build tests use ``fake-go``: a stand-in for the Go toolchain that "builds" a tiny
shell script answering ``pulumi version`` with the stamped version, so that the cache
logic can be exercised in seconds. The real build is what ``make test`` runs on a
fresh machine (``shipyard pulumi install``).
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import textwrap
from pathlib import Path

import pytest

from shipyard.engine import toolchain
from shipyard.engine.toolchain import (
    DYNAMIC_PROVIDER_PLUGIN,
    PINNED_VERSION,
    PulumiBuildError,
    PulumiNotFoundError,
    build_pulumi,
    ensure_pulumi,
    find_pulumi,
)
from shipyard.settings import Settings

FAKE_GO = textwrap.dedent(
    """\
    #!/bin/sh
    # fake-go: writes a "pulumi" that prints the version stamped through -ldflags.
    out=""; version=""
    while [ $# -gt 0 ]; do
      case "$1" in
        -o) out="$2"; shift ;;
        -ldflags) version="${2##*=}"; shift ;;
      esac
      shift
    done
    echo "$$" >> "$FAKE_GO_LOG"
    sleep "${FAKE_GO_SECONDS:-0}"
    [ -n "$FAKE_GO_FAIL" ] && { echo "compile: something broke" >&2; exit 3; }
    mkdir -p "$(dirname "$out")"
    printf '#!/bin/sh\\necho %s\\n' "${FAKE_GO_PRINTS-$version}" > "$out"
    chmod +x "$out"
    """
)


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with an empty PATH (plus /bin for sh) and a cache of their own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/bin:/usr/bin")
    monkeypatch.delenv("SHIPYARD_PULUMI", raising=False)
    monkeypatch.setenv("FAKE_GO_LOG", str(tmp_path / "go.log"))
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")


def _fake_pulumi(directory: Path, prints: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return _executable(directory / "pulumi", f"#!/bin/sh\necho {prints}\n")


def _install_fake_go(settings: Settings) -> None:
    bin_dir = Path(os.environ["PATH"].split(":")[0])
    _executable(bin_dir / "go", FAKE_GO)


def test_explicit_setting_wins_over_path(isolated: Settings, tmp_path: Path) -> None:
    _fake_pulumi(Path(os.environ["PATH"].split(":")[0]), "v3.300.0")
    explicit = _fake_pulumi(tmp_path / "explicit", "v3.274.1")
    settings = isolated.model_copy(update={"pulumi": explicit})

    cli = find_pulumi(settings)

    assert cli is not None
    assert (cli.path, cli.version, cli.source) == (explicit.resolve(), "3.274.1", "setting")


def test_broken_explicit_setting_is_an_error_not_a_fallback(
    isolated: Settings, tmp_path: Path
) -> None:
    settings = isolated.model_copy(update={"pulumi": tmp_path / "missing" / "pulumi"})

    with pytest.raises(PulumiNotFoundError, match=r"SHIPYARD_PULUMI=.*unset it"):
        find_pulumi(settings)


def test_path_is_used_when_recent_enough(isolated: Settings) -> None:
    on_path = _fake_pulumi(Path(os.environ["PATH"].split(":")[0]), "v3.280.2")

    cli = find_pulumi(isolated)

    assert cli is not None
    assert (cli.path, cli.version, cli.source) == (on_path, "3.280.2", "path")


def test_too_old_path_binary_falls_through_to_the_cache(isolated: Settings) -> None:
    _fake_pulumi(Path(os.environ["PATH"].split(":")[0]), "v3.100.0")
    cached = _fake_pulumi(toolchain.cache_bin_dir(isolated), f"v{PINNED_VERSION}")

    cli = find_pulumi(isolated)

    assert cli is not None
    assert (cli.path, cli.source) == (cached, "cache")


def test_nothing_and_no_go_names_both_fixes(isolated: Settings) -> None:
    with pytest.raises(PulumiNotFoundError) as raised:
        ensure_pulumi(isolated)

    message = str(raised.value)
    assert "SHIPYARD_PULUMI" in message
    assert "install Go" in message


def test_build_stamps_version_and_writes_the_dynamic_provider_shim(isolated: Settings) -> None:
    _install_fake_go(isolated)
    progress: list[str] = []

    cli = ensure_pulumi(isolated, progress=progress.append)

    assert (cli.version, cli.source) == (PINNED_VERSION, "built")
    assert cli.path == toolchain.cache_bin_dir(isolated) / "pulumi"
    shim = cli.bin_dir / DYNAMIC_PROVIDER_PLUGIN
    assert os.access(shim, os.X_OK)
    assert "-u -m pulumi.dynamic" in shim.read_text()
    assert any("one time only" in line for line in progress)
    # The next resolution finds the cache without building again.
    again = find_pulumi(isolated)
    assert again is not None and again.source == "cache"


def test_failed_build_leaves_no_cache_and_shows_the_log(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_go(isolated)
    monkeypatch.setenv("FAKE_GO_FAIL", "1")

    with pytest.raises(PulumiBuildError, match="compile: something broke"):
        build_pulumi(isolated)

    assert find_pulumi(isolated) is None
    assert list((isolated.cache_dir / "pulumi").glob(".v*-*")) == []


def test_unstamped_build_is_refused(isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_go(isolated)
    monkeypatch.setenv("FAKE_GO_PRINTS", "")

    with pytest.raises(PulumiBuildError, match="version stamp"):
        build_pulumi(isolated)
    assert find_pulumi(isolated) is None


def _build_in_child(cache_dir: str, data_dir: str) -> None:
    build_pulumi(Settings(data_dir=Path(data_dir), cache_dir=Path(cache_dir)))


def test_two_builds_at_once_build_once_and_leave_a_working_cache(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _install_fake_go(isolated)
    monkeypatch.setenv("FAKE_GO_SECONDS", "1")
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_build_in_child, args=(str(isolated.cache_dir), str(isolated.data_dir))
        )
        for _ in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)

    assert [child.exitcode for child in children] == [0, 0]
    assert len((tmp_path / "go.log").read_text().split()) == 1
    cli = find_pulumi(isolated)
    assert cli is not None and cli.version == PINNED_VERSION


def _counting_pulumi(directory: Path, prints: str, log: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return _executable(directory / "pulumi", f"#!/bin/sh\necho run >> {log}\necho {prints}\n")


def test_a_probed_version_is_remembered_until_the_binary_changes(
    isolated: Settings, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.log"
    on_path = _counting_pulumi(Path(os.environ["PATH"].split(":")[0]), "v3.280.2", runs)

    first, second = find_pulumi(isolated), find_pulumi(isolated)

    assert first == second
    assert first is not None and first.version == "3.280.2"
    assert runs.read_text().split() == ["run"]  # the second resolution ran nothing
    # A new binary at the same path (an upgrade) is asked again.
    replacement = on_path.with_name(".pulumi.new")
    _counting_pulumi(replacement.parent, "v3.281.0", runs).rename(replacement)
    replacement.replace(on_path)
    upgraded = find_pulumi(isolated)
    assert upgraded is not None and upgraded.version == "3.281.0"
    assert runs.read_text().split() == ["run", "run"]


def test_a_corrupt_version_cache_is_ignored_and_rewritten(isolated: Settings) -> None:
    _fake_pulumi(Path(os.environ["PATH"].split(":")[0]), "v3.280.2")
    probes = isolated.cache_dir / "pulumi" / "versions.json"
    probes.parent.mkdir(parents=True)
    probes.write_text("{not json")

    cli = find_pulumi(isolated)

    assert cli is not None and cli.version == "3.280.2"
    assert "3.280.2" in probes.read_text()


def test_too_old_explicit_setting_is_an_error_naming_the_versions(
    isolated: Settings, tmp_path: Path
) -> None:
    explicit = _fake_pulumi(tmp_path / "explicit", "v3.100.0")
    settings = isolated.model_copy(update={"pulumi": explicit})

    with pytest.raises(PulumiNotFoundError, match=r"v3\.100\.0, older than the v3\.272\.0"):
        find_pulumi(settings)
