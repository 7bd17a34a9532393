"""The GCP target: Cloud Build triggers on tags, Artifact Registry, Cloud Run v2.

Its programs are declared with ``pulumi_gcp``: build once (one repository and trigger per
component, in the build project) or per environment; deploys find or run the tag's build
and ``up`` its digest. See docs/gcp-target.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.targets.gcp.build_api import BuildUpdate, BuiltImage, CloudBuild
    from shipyard.targets.gcp.build_config import generated_build
    from shipyard.targets.gcp.config import GcpConfig, gcp_config
    from shipyard.targets.gcp.errors import (
        BuildFailedError,
        BuildTimeoutError,
        CloudBuildError,
        GcpCredentialsError,
        GcpPluginMissingError,
        GcpTargetError,
        NotGcpError,
        NotServingError,
        ReleaseImageGoneError,
        UnsupportedComponentError,
    )
    from shipyard.targets.gcp.flow import GcpDeployment, GcpTarget
    from shipyard.targets.gcp.plan import GcpPlan, gcp_plan
    from shipyard.targets.gcp.program import gcp_program

# Names -> the submodule defining them, imported on first use: the Cloud Build client and
# pulumi_gcp cost ~1 s to import, which every job and command would pay otherwise.
_HOME = {
    "BuildUpdate": "build_api",
    "BuiltImage": "build_api",
    "CloudBuild": "build_api",
    "generated_build": "build_config",
    "GcpConfig": "config",
    "gcp_config": "config",
    "BuildFailedError": "errors",
    "BuildTimeoutError": "errors",
    "CloudBuildError": "errors",
    "GcpCredentialsError": "errors",
    "GcpPluginMissingError": "errors",
    "GcpTargetError": "errors",
    "NotGcpError": "errors",
    "NotServingError": "errors",
    "ReleaseImageGoneError": "errors",
    "UnsupportedComponentError": "errors",
    "GcpDeployment": "flow",
    "GcpTarget": "flow",
    "GcpPlan": "plan",
    "gcp_plan": "plan",
    "gcp_program": "program",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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
    "NotServingError",
    "ReleaseImageGoneError",
    "UnsupportedComponentError",
    "gcp_config",
    "gcp_plan",
    "gcp_program",
    "generated_build",
]
