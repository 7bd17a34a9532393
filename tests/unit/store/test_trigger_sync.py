"""The tag watchers' supervisor resolves the components' desired states (their
descriptors and Score files parsed) only when the components or the platform changed,
not on each of its syncs (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine
from structlog.testing import capture_logs

from shipyard.catalog import load_components
from shipyard.services import triggers
from shipyard.services.components import register
from shipyard.services.desired import platform_of
from shipyard.services.platform import sync_environments
from shipyard.services.triggers import TriggerSupervisor
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.testing.samples import PLATFORM_YAML, write_component, write_platform


def _repository(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@t.invalid", *args],
            cwd=path,
            check=True,
        )
    return path


def _register(database: Engine, settings: Settings, tmp_path: Path, name: str) -> None:
    source = _repository(tmp_path / f"{name}-git")
    catalog = write_component(tmp_path / name, name, source=source)
    with transaction(database) as session:
        sync_environments(session, platform_of(settings))
        register(session, load_components(catalog), str(catalog.parent), platform_of(settings))


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The components whose desired state the supervisor resolves, in order."""
    calls: list[str] = []
    real = triggers.desired_state

    def counting(component: Any, environment: str, platform: Any) -> Any:
        calls.append(component.name)
        return real(component, environment, platform)

    monkeypatch.setattr(triggers, "desired_state", counting)
    return calls


@pytest.fixture
def supervisor(database: Engine, tmp_path: Path) -> Iterator[TriggerSupervisor]:
    settings = Settings(data_dir=tmp_path / "data", platform=tmp_path / "platform.yaml")
    write_platform(tmp_path / "platform.yaml")
    supervisor = TriggerSupervisor(settings, database, sync_every_s=3600)
    yield supervisor
    supervisor.stop()


def _watching(logs: list[dict[str, Any]]) -> list[str]:
    return [line["component"] for line in logs if line["event"] == "trigger.watching"]


def test_a_sync_resolves_the_components_again_only_when_something_changed(
    database: Engine, tmp_path: Path, supervisor: TriggerSupervisor, resolved: list[str]
) -> None:
    settings = supervisor.settings
    _register(database, settings, tmp_path, "orders-api")

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        supervisor.sync()
        assert resolved == ["orders-api"]
        assert _watching(logs) == ["default/orders-api"]

        supervisor.sync()  # nothing changed: no descriptor parsed again
        assert resolved == ["orders-api"]

        _register(database, settings, tmp_path, "billing-api")
        supervisor.sync()
        assert sorted(resolved[1:]) == ["billing-api", "orders-api"]
        assert _watching(logs) == ["default/orders-api", "default/billing-api"]

        assert settings.platform is not None
        settings.platform.write_text(PLATFORM_YAML.replace("max-instances: 3", "max-instances: 4"))
        supervisor.sync()  # the platform changed: every component is resolved again
        assert sorted(resolved[3:]) == ["billing-api", "orders-api"]
