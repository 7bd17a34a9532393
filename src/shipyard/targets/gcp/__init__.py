"""The GCP target: Cloud Build triggers on tags, Artifact Registry, Cloud Run v2.

Its program is declared with ``pulumi_gcp``; deploys run the trigger through the Cloud
Build API and ``up`` the built digest. See docs/gcp-target.md for running it for real.
"""

from __future__ import annotations

from shipyard.targets.gcp.cloud_build import BuildUpdate, BuiltImage, CloudBuild
from shipyard.targets.gcp.cloudbuild import generated_build
from shipyard.targets.gcp.config import GcpConfig, gcp_config
from shipyard.targets.gcp.errors import (
    BuildFailedError,
    BuildTimeoutError,
    CloudBuildError,
    GcpCredentialsError,
    GcpPluginMissingError,
    GcpTargetError,
    NotGcpError,
    UnsupportedComponentError,
)
from shipyard.targets.gcp.flow import GcpDeployment, GcpTarget
from shipyard.targets.gcp.plan import GcpPlan, gcp_plan
from shipyard.targets.gcp.program import gcp_program

__all__ = [
    "BuildFailedError",
    "BuildTimeoutError",
    "BuildUpdate",
    "BuiltImage",
    "CloudBuild",
    "CloudBuildError",
    "GcpConfig",
    "GcpCredentialsError",
    "GcpDeployment",
    "GcpPlan",
    "GcpPluginMissingError",
    "GcpTarget",
    "GcpTargetError",
    "NotGcpError",
    "UnsupportedComponentError",
    "gcp_config",
    "gcp_plan",
    "gcp_program",
    "generated_build",
]
