"""The labels Shipyard puts on the images and containers it makes."""

from __future__ import annotations

__all__ = [
    "COMMIT",
    "COMPONENT",
    "ENVIRONMENT",
    "INSTANCE",
    "REVISION",
    "SPEC",
    "TAG",
    "shipyard_labels",
]

INSTANCE = "shipyard.dev/instance"
"""The Shipyard that made it: the id kept in ``<data_dir>/instance-id`` (see
:mod:`~shipyard.targets.local.instance`). Every lookup and sweep filters by it."""
COMPONENT = "shipyard.dev/component"
"""The component id, ``namespace/name`` (e.g. ``default/greeter``)."""
ENVIRONMENT = "shipyard.dev/environment"
TAG = "shipyard.dev/tag"
"""The git tag the image was built from."""
COMMIT = "shipyard.dev/commit"
"""The commit that tag pointed at when it was built."""
REVISION = "shipyard.dev/revision"
"""A service container's revision number in its environment (1, 2, ...)."""
SPEC = "shipyard.dev/spec"
"""A hash of what a service container runs (image, ports, variables, limits, files)."""


def shipyard_labels(
    component: str,
    *,
    instance: str | None = None,
    environment: str | None = None,
    tag: str | None = None,
    commit: str | None = None,
) -> dict[str, str]:
    """Labels for one image or container; values that are not known are left out."""
    values = {
        INSTANCE: instance,
        COMPONENT: component,
        ENVIRONMENT: environment,
        TAG: tag,
        COMMIT: commit,
    }
    return {key: value for key, value in values.items() if value is not None}
