"""A registered component's desired state in an environment, from the stored descriptor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from shipyard.catalog import CatalogError, DesiredState, Platform, load_platform, resolve
from shipyard.catalog.backstage import read_descriptor_text
from shipyard.services.errors import PlatformMissingError, RegistrationError
from shipyard.settings import Settings
from shipyard.store import models

__all__ = ["desired_state", "platform_of"]


_LOADED: dict[Path, tuple[bytes, Platform]] = {}
"""Platform files this process parsed, by path: the digest of the content, the result."""


def platform_of(settings: Settings) -> Platform:
    """The configured platform file, loaded; raises when none is configured.

    A file this process parsed before, with the same content, is not parsed again (10-40
    ms of every job otherwise); an edited one is."""
    if settings.platform is None:
        raise PlatformMissingError(
            "no platform file is configured, so environments cannot be resolved: start "
            "Shipyard with --platform FILE (or SHIPYARD_PLATFORM)"
        )
    path = settings.platform
    try:
        digest = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return load_platform(path)  # which says what is wrong with the file
    cached = _LOADED.get(path)
    if cached is not None and cached[0] == digest:
        return cached[1]
    platform = load_platform(path)
    _LOADED[path] = (digest, platform)
    return platform


def desired_state(
    component: models.Component, environment: str, platform: Platform
) -> DesiredState:
    """Resolve the descriptor as registered; its directory (a path registration) anchors
    relative sources and ``score.yaml``."""
    directory = Path(component.source) if component.source else None
    found = read_descriptor_text(
        json.dumps(component.descriptor),
        f"{component.ref} (as registered)",
        directory if directory is not None and directory.is_dir() else None,
    )
    if found.problems:
        raise CatalogError(found.problems)
    matching = [c for c in found.components if c.namespace == component.namespace]
    if not matching:
        raise RegistrationError(
            f"the stored descriptor of {component.ref} holds no Component: register it again"
        )
    return resolve(matching[0], environment, platform)
