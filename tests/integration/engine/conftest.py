"""The real Pulumi CLI on a ``file://`` backend in a temp dir, random stack names.

Every engine gets its own data dir (state, passphrase, work dirs) under ``tmp_path``;
provider processes a test leaves behind (a crash, a cancel) are killed at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.engine import Engine, StackRef
from shipyard.engine.toolchain import PulumiCli, ensure_pulumi
from shipyard.settings import Settings


def engine_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, backend_url=None, secrets_provider=None, pulumi=None)


@pytest.fixture(scope="session")
def pulumi_cli(tmp_path_factory: pytest.TempPathFactory) -> PulumiCli:
    return ensure_pulumi(engine_settings(tmp_path_factory.mktemp("cli-probe")))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


EngineFactory = Callable[..., Engine]


@pytest.fixture
def make_engine(data_dir: Path, pulumi_cli: PulumiCli) -> EngineFactory:
    def make(**options: float) -> Engine:
        return Engine(engine_settings(data_dir), pulumi_cli, **options)

    return make


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    return make_engine()


@pytest.fixture
def stack_ref() -> StackRef:
    return random_ref()


@pytest.fixture
def new_ref() -> Callable[[], StackRef]:
    """Makes more random stack refs."""
    return random_ref


def random_ref() -> StackRef:
    return StackRef.of(f"test/c{uuid.uuid4().hex[:10]}", f"env{uuid.uuid4().hex[:6]}")


def _dynamic_providers_under(root: Path) -> list[int]:
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
def _kill_stray_providers(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in _dynamic_providers_under(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
