"""The local target's errors: each says what failed, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.errors import ShipyardError
from shipyard.sources.errors import GitError, TagNotFoundError

__all__ = [
    "CommandFailedError",
    "CommandTimeoutError",
    "ContainerEngineError",
    "ContainerEngineMissingError",
    "ContainerExistsError",
    "ContainerNotFoundError",
    "GitError",
    "HealthCheckTimeoutError",
    "ImageBuildError",
    "ImageNotFoundError",
    "ImagePushError",
    "LocalTargetError",
    "PortInUseError",
    "ProxyError",
    "TagNotFoundError",
    "ToolMissingError",
]


class LocalTargetError(ShipyardError):
    """Something the local target could not do."""


class ToolMissingError(LocalTargetError):
    """A program the local target runs (git, podman, caddy...) is not installed."""


class ContainerEngineMissingError(ToolMissingError):
    """Neither docker nor podman can be used."""


class CommandFailedError(LocalTargetError):
    """A command exited non-zero; carries its argument list and output."""

    def __init__(self, message: str, *, args: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(message)
        self.command = list(args)
        self.returncode = returncode
        self.output = output


class CommandTimeoutError(LocalTargetError):
    """A command did not finish before its deadline and was killed."""


class ContainerEngineError(CommandFailedError):
    """The container engine refused an operation."""


class ImageBuildError(ContainerEngineError):
    """An image build failed; the message ends with the tail of the build log."""


class ImagePushError(ContainerEngineError):
    """Pushing an image to the configured registry failed."""


class PortInUseError(ContainerEngineError):
    """A container could not publish a port because something already listens on it."""


class ContainerNotFoundError(ContainerEngineError):
    """No container has that name or id."""


class ContainerExistsError(ContainerEngineError):
    """A container with that name already exists."""


class ImageNotFoundError(ContainerEngineError):
    """No image has that reference or id."""


class HealthCheckTimeoutError(LocalTargetError):
    """A service did not answer its health check before the deadline."""


class ProxyError(LocalTargetError):
    """The reverse proxy (Caddy) could not be started or configured."""
