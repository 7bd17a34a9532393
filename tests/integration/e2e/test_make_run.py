"""`make run` itself, on a fresh data dir: the example answers HTTP at the printed URL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


def test_make_run_deploys_the_example_and_prints_its_url(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHIPYARD_DATA_DIR": str(tmp_path / "data"),
        "SHIPYARD_PORT": "0",
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = _Output(process.stdout)
    try:
        url = output.wait_for(SERVICE_LINE, timeout=300).group(1)
        answer = httpx.get(f"{url}/version", timeout=10, trust_env=False)
        assert (answer.status_code, answer.text.strip()) == (200, "v1.0.0")
        admin = output.wait_for(re.compile(r"admin token:\s+(\S+)"), timeout=5).group(1)
        assert Path(admin) == tmp_path / "data" / "admin-token"
        assert Path(admin).stat().st_mode & 0o777 == 0o600
    finally:
        destroyed = subprocess.run(
            [str(SHIPYARD), "destroy", "greeter", "--env", "dev", "--yes", "--follow"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        output.join()
        process.stdout.close()
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    # Stopping the server stops what it started: no process is left using its data dir.
    assert _processes_mentioning(tmp_path / "data") == []


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
