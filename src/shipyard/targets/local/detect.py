"""Pick the container engine: the setting if given, else docker if its engine answers,
else podman."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from pathlib import Path

from shipyard.settings import Settings
from shipyard.targets.local._process import run_command
from shipyard.targets.local.container_cli import INSTALL_HINT, CliContainerEngine
from shipyard.targets.local.containers import EngineKind
from shipyard.targets.local.errors import (
    CommandTimeoutError,
    ContainerEngineMissingError,
    ToolMissingError,
)

__all__ = ["detect_container_engine", "engine_kind"]

_DOCKER_INFO_TIMEOUT_S = 10.0


def engine_kind(binary: str | Path) -> EngineKind:
    return "podman" if "podman" in Path(binary).name else "docker"


def _configured(name: str) -> CliContainerEngine:
    found = shutil.which(name)
    if found is None:
        kind = engine_kind(name)
        package = "podman runc" if kind == "podman" else "docker.io"
        raise ContainerEngineMissingError(
            f"the container engine {name!r} set in SHIPYARD_CONTAINER_ENGINE was not found: "
            f"install {kind} (`apt-get install {package}`) or unset SHIPYARD_CONTAINER_ENGINE "
            "to use whichever works"
        )
    return CliContainerEngine(Path(found), engine_kind(name))


def _docker_answers(binary: str) -> bool:
    try:
        return run_command([binary, "info"], timeout=_DOCKER_INFO_TIMEOUT_S).ok
    except (ToolMissingError, CommandTimeoutError):
        return False


def detect_container_engine(settings: Settings) -> CliContainerEngine:
    """The engine to use; raises :class:`ContainerEngineMissingError` naming what to install.

    Detection asks ``docker info`` (tens of ms), so its answer is kept for the process:
    the engine a machine has does not change under a running server.
    """
    found = _detect(settings.container_engine, os.environ.get("PATH", ""))
    return dataclasses.replace(found, host=settings.container_host)


@functools.lru_cache(maxsize=16)
def _detect(configured: str | None, _path: str) -> CliContainerEngine:
    if configured:
        return _configured(configured)
    docker = shutil.which("docker")
    if docker is not None and _docker_answers(docker):
        return CliContainerEngine(Path(docker), "docker")
    podman = shutil.which("podman")
    if podman is not None:
        return CliContainerEngine(Path(podman), "podman")
    found = "a docker CLI whose engine does not answer" if docker else "neither docker nor podman"
    raise ContainerEngineMissingError(f"no container engine works here ({found}): {INSTALL_HINT}")
