"""The local target: components built and run on this machine's container engine.

Public surface: the container engine port and its docker/podman CLI adapter, git sources,
image builds, the tag watcher (trigger), HTTP health checks and the Caddy proxy.
"""

from __future__ import annotations

from shipyard.sources import GitSources
from shipyard.targets.local.builds import (
    BuildRequest,
    BuiltImage,
    ImageBuilder,
    image_reference,
    image_repository,
)
from shipyard.targets.local.container_cli import CliContainerEngine
from shipyard.targets.local.containers import (
    BuildSpec,
    ContainerEngine,
    ContainerInfo,
    ContainerSpec,
    HealthCheck,
    ImageInfo,
    PortMapping,
)
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.labels import shipyard_labels

__all__ = [
    "BuildRequest",
    "BuildSpec",
    "BuiltImage",
    "CliContainerEngine",
    "ContainerEngine",
    "ContainerInfo",
    "ContainerSpec",
    "GitSources",
    "HealthCheck",
    "ImageBuilder",
    "ImageInfo",
    "PortMapping",
    "detect_container_engine",
    "image_reference",
    "image_repository",
    "shipyard_labels",
]
