"""`make run` itself, on a fresh data dir: the example answers HTTP at the printed URL; run
again on that data dir (after another Shipyard deployed and destroyed a component of the
same name), it answers again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.catalog import load_components, load_platform, resolve
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings
from shipyard.targets.local.flow import LocalTarget

ROOT = Path(__file__).resolve().parents[3]
SHIPYARD = Path(sys.executable).with_name("shipyard")
SERVICE_LINE = re.compile(r"greeter \(dev\): (http://\S+)")

pytestmark = pytest.mark.integration


class _Output:
    """Collects a process's output lines on a thread, so a test can wait on one."""

    def __init__(self, stream: Iterator[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        with self._changed:
            found = None

            def seen() -> bool:
                nonlocal found
                found = next(filter(None, map(pattern.search, self.lines)), None)
                return found is not None or not self._thread.is_alive()

            self._changed.wait_for(seen, timeout)
        if found is None:
            pytest.fail(f"`make run` never printed {pattern.pattern!r}:\n" + "\n".join(self.lines))
        return found


class _MakeRun:
    """One `make run` in its own process group, its output collected."""

    def __init__(self, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.output = _Output(self.process.stdout)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self.output.join()
        assert self.process.stdout is not None
        self.process.stdout.close()


def _version(url: str) -> tuple[int, str]:
    answer = httpx.get(f"{url}/version", timeout=10, trust_env=False)
    return answer.status_code, answer.text.strip()


def test_make_run_deploys_the_example_and_prints_its_url(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHIPYARD_DATA_DIR": str(tmp_path / "data"),
        "SHIPYARD_PORT": "0",
    }
    run = _MakeRun(env)
    try:
        url = run.output.wait_for(SERVICE_LINE, timeout=300).group(1)
        assert _version(url) == (200, "v1.0.0")
        admin = run.output.wait_for(re.compile(r"admin token:\s+(\S+)"), timeout=5).group(1)
        assert Path(admin) == tmp_path / "data" / "admin-token"
        assert Path(admin).stat().st_mode & 0o777 == 0o600
    finally:
        destroyed = _destroy(env)
        run.stop()
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    # Stopping the server stops what it started: no process is left using its data dir.
    assert _processes_mentioning(tmp_path / "data") == []


def test_make_run_twice_with_another_shipyard_in_between(tmp_path: Path) -> None:
    """The second `make run` on one data dir answers again, although meanwhile another
    Shipyard (its own data dir, as the test suite has) deployed and destroyed, images
    included, a component of the same name on the same container engine."""
    data = tmp_path / "data"
    env = {**os.environ, "SHIPYARD_DATA_DIR": str(data), "SHIPYARD_PORT": "0"}
    first = _MakeRun(env)
    try:
        url = first.output.wait_for(SERVICE_LINE, timeout=300).group(1)
        assert _version(url) == (200, "v1.0.0")
    finally:
        first.stop()

    _another_shipyard_deploys_and_destroys_the_example(tmp_path / "other", data / "examples")

    second = _MakeRun(env)
    try:
        again = second.output.wait_for(SERVICE_LINE, timeout=300).group(1)
        elapsed = time.monotonic() - second.started
        print(f"the second `make run` printed its URL after {elapsed:.1f} s")
        assert again == url, "the service keeps its address across runs"
        assert _version(again) == (200, "v1.0.0")
        assert "Provisioning greeter" not in "\n".join(second.output.lines)
    finally:
        destroyed = _destroy(env)
        second.stop()
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert _processes_mentioning(data) == []


def _another_shipyard_deploys_and_destroys_the_example(root: Path, examples: Path) -> None:
    """What the reported failure had in between two runs: a second Shipyard deploying
    ``default/greeter`` at the same tag from its own data dir, then destroying it."""
    settings = Settings(
        data_dir=root / "data",
        cache_dir=root / "cache",
        pulumi=ensure_pulumi(Settings()).path,
        source_roots=[examples],
    )
    (component,) = load_components(examples / "greeter" / "catalog-info.yaml")
    desired = resolve(component, "dev", load_platform(ROOT / "examples" / "platform.local.yaml"))
    with LocalTarget.from_settings(settings, health_timeout_s=60.0) as other:
        deployed = other.deploy(desired, "v1.0.0")
        assert _version(deployed.url) == (200, "v1.0.0")
        other.destroy(desired, remove_images=True)


def _destroy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHIPYARD), "destroy", "greeter", "--env", "dev", "--yes", "--follow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _processes_mentioning(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found
