"""Backstage's own verdict on descriptor texts: ``backstage-model/judge.js`` run with Node.

The package folder pins ``@backstage/catalog-model`` (and the ``yaml`` parser the catalog
uses) in a committed lockfile; ``scripts/setup.sh`` installs it with ``npm ci``, and
:func:`start` does the same when ``node_modules`` is missing or stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PACKAGE = Path(__file__).parent / "backstage-model"
SETUP_HINT = (
    "the Backstage differential test needs Node.js >= 20 and npm (e.g. apt-get install nodejs "
    "npm), then `scripts/setup.sh` (or `npm ci` in tests/conformance/backstage-model)"
)


class JudgeUnavailableError(RuntimeError):
    """Node, npm or the pinned packages cannot be had: say what to install."""


@dataclass(frozen=True)
class Verdict:
    """Backstage on one text: a file-level error (YAML) or one verdict per document."""

    error: str | None
    documents: tuple[dict[str, Any], ...]

    @property
    def valid(self) -> bool:
        return self.error is None and all(doc["valid"] for doc in self.documents)

    @property
    def refs(self) -> list[str]:
        return sorted(doc["ref"] for doc in self.documents if doc["valid"])


def _installed() -> bool:
    lock = json.loads((PACKAGE / "package-lock.json").read_text())
    for name, entry in lock.get("packages", {}).items():
        if not name:
            continue
        manifest = PACKAGE / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != entry.get(
            "version"
        ):
            return False
    return True


def install() -> None:
    """``npm ci`` when node_modules does not match the lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise JudgeUnavailableError(f"node or npm not found on PATH: {SETUP_HINT}")
    if _installed():
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise JudgeUnavailableError(f"npm ci failed ({done.stderr.strip()[-800:]}): {SETUP_HINT}")


class Judge:
    """One long-lived Node process; :meth:`judge` sends a batch and reads its verdicts."""

    def __init__(self) -> None:
        install()
        env = {**os.environ, "NODE_NO_WARNINGS": "1"}
        self._process = subprocess.Popen(
            ["node", str(PACKAGE / "judge.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
        )

    def judge(self, texts: list[str]) -> list[Verdict]:
        stdin: IO[str] | None = self._process.stdin
        stdout: IO[str] | None = self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"texts": texts}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            stderr = self._process.stderr.read() if self._process.stderr else ""
            raise JudgeUnavailableError(f"judge.js stopped: {stderr.strip()[-800:]}")
        return [Verdict(item["error"], tuple(item["documents"])) for item in json.loads(line)]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
