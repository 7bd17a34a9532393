"""The GCP target's errors: each says what went wrong, where, and how to fix it."""

from __future__ import annotations

from shipyard.errors import ShipyardError

__all__ = [
    "BuildFailedError",
    "BuildTimeoutError",
    "CloudBuildError",
    "GcpCredentialsError",
    "GcpPluginMissingError",
    "GcpTargetError",
    "NotGcpError",
    "NotServingError",
    "ReleaseImageGoneError",
    "UnsupportedComponentError",
]


class GcpTargetError(ShipyardError):
    """Something the GCP target cannot do for a component."""


class GcpCredentialsError(GcpTargetError):
    """No Application Default Credentials: Shipyard cannot call Google Cloud."""


class GcpPluginMissingError(GcpTargetError):
    """Pulumi's ``gcp`` provider plugin is not installed in Shipyard's ``PULUMI_HOME``."""


class NotGcpError(GcpTargetError):
    """A desired state for another target was handed to the GCP target."""


class UnsupportedComponentError(GcpTargetError):
    """The component's source, workload or settings cannot be run on Cloud Run as given."""


class CloudBuildError(GcpTargetError):
    """The Cloud Build API refused a request or answered something unexpected."""


class BuildFailedError(CloudBuildError):
    """A build ended in a status other than SUCCESS."""

    def __init__(self, message: str, *, build_id: str, status: str, log_url: str) -> None:
        super().__init__(message)
        self.build_id = build_id
        self.status = status
        self.log_url = log_url


class BuildTimeoutError(CloudBuildError):
    """A build did not finish within the time Shipyard waits for it."""

    def __init__(self, message: str, *, build_id: str, log_url: str) -> None:
        super().__init__(message)
        self.build_id = build_id
        self.log_url = log_url


class ReleaseImageGoneError(GcpTargetError):
    """The image a rollback or promote would run is no longer in Artifact Registry."""


class NotServingError(GcpTargetError):
    """After an ``up``, the new Cloud Run revision does not serve all traffic."""
