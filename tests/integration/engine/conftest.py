"""The real Pulumi CLI on a ``file://`` backend in a temp dir, random stack names.

Every engine gets its own data dir (state, passphrase, work dirs) under ``tmp_path``;
provider processes a test leaves behind (a crash, a cancel) are killed at teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.engine import Engine, StackRef
from shipyard.engine.toolchain import PulumiCli
from shipyard.settings import Settings
from shipyard.testing.pulumi_fixtures import kill_stray_providers, pulumi_cli

__all__ = ["kill_stray_providers", "pulumi_cli"]


def engine_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, backend_url=None, secrets_provider=None, pulumi=None)


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
