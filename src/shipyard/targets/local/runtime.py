"""What a local provider process needs to reach this machine's container engine and proxy.

Pulumi runs dynamic providers in a process of their own, so none of the flow's objects
reach them: this record travels in every resource's inputs and is rebuilt there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.targets.local.container_cli import CliContainerEngine
from shipyard.targets.local.detect import engine_kind
from shipyard.targets.local.proxy import Proxy

__all__ = ["RUNTIME_KEY", "Runtime"]

RUNTIME_KEY = "runtime"
"""The input holding a :class:`Runtime` (as a plain dict) on every local resource."""


@dataclass(frozen=True, slots=True)
class Runtime:
    engine_binary: str
    """The docker or podman binary, an absolute path."""
    state_dir: str
    """``<data_dir>/local``: proxy routes and Caddy's files."""
    proxy_admin_url: str
    """Admin API of the Caddy in front of the services (running before any ``up``)."""
    health_timeout_s: float = 60.0
    """How long a new revision may take to answer its health check."""
    engine_host: str | None = None
    """The container engine's API on a container host (``SHIPYARD_CONTAINER_HOST``)."""

    def containers(self) -> CliContainerEngine:
        return CliContainerEngine(
            Path(self.engine_binary), engine_kind(self.engine_binary), host=self.engine_host
        )

    def proxy(self) -> Proxy:
        """The running Caddy, through its admin API (never started from a provider)."""
        return Proxy(Path(self.state_dir), admin_url=self.proxy_admin_url)

    def inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "engine_binary": self.engine_binary,
            "state_dir": self.state_dir,
            "proxy_admin_url": self.proxy_admin_url,
            "health_timeout_s": self.health_timeout_s,
        }
        if self.engine_host is not None:  # absent otherwise: no stack sees a changed input
            inputs["engine_host"] = self.engine_host
        return inputs

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> Runtime:
        raw = props[RUNTIME_KEY]
        return cls(
            engine_binary=str(raw["engine_binary"]),
            state_dir=str(raw["state_dir"]),
            proxy_admin_url=str(raw["proxy_admin_url"]),
            health_timeout_s=float(raw["health_timeout_s"]),
            engine_host=str(raw["engine_host"]) if raw.get("engine_host") else None,
        )
