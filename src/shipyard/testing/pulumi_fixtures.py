"""pytest fixtures for tests that run the real Pulumi CLI.

A test directory's ``conftest.py`` imports the ones it uses::

    from shipyard.testing.pulumi_fixtures import kill_stray_providers, pulumi_cli

``pulumi_cli`` finds (or builds) the pinned CLI once per session; ``kill_stray_providers``
(autouse once imported) SIGKILLs, after each test, the ``pulumi.dynamic`` provider
processes whose work dir is under the test's ``tmp_path``: a crash or a cancel the test
caused may leave them behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.engine.toolchain import PulumiCli, ensure_pulumi
from shipyard.settings import Settings

__all__ = ["dynamic_providers_under", "kill_stray_providers", "pulumi_cli"]


@pytest.fixture(scope="session")
def pulumi_cli(tmp_path_factory: pytest.TempPathFactory) -> PulumiCli:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("cli-probe"),
        backend_url=None,
        secrets_provider=None,
        pulumi=None,
    )
    return ensure_pulumi(settings)


def dynamic_providers_under(root: Path) -> list[int]:
    """Pids of ``pulumi.dynamic`` provider processes whose work dir is under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = (entry / "cwd").readlink()
            if b"pulumi.dynamic" in cmdline and cwd.is_relative_to(root):
                found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def kill_stray_providers(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in dynamic_providers_under(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
