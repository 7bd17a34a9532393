"""``DesiredState``: everything a target needs for one (component, environment), frozen."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from shipyard.catalog.platform import Target
from shipyard.catalog.score import Container, ResourceDependency, ServicePort

__all__ = [
    "DesiredState",
    "GcpSettings",
    "Layer",
    "LocalSettings",
    "Provenance",
    "Scaling",
    "SourceRef",
]

Layer = Literal["default", "template", "environment", "component"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Provenance(_Frozen):
    """Where a setting's value came from: the layer and the line that set it."""

    layer: Layer
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str = ""


class SourceRef(_Frozen):
    """The code to build: a git URL, or a local directory (for the local target).

    ``spec`` is the value as written; ``path`` is the local directory resolved against the
    descriptor's directory (machine-specific, so left out of the stable hash).
    """

    kind: Literal["git", "local"]
    spec: str
    url: str | None = None
    path: str | None = None
    remote: str | None = None
    """A local source's repository as a cloud build reaches it (``github.com/project-slug``)."""


class Scaling(_Frozen):
    min_instances: int
    max_instances: int
    cpu: str
    memory: str


class GcpSettings(_Frozen):
    project: str
    region: str
    build_project: str | None = None
    """Where build-once images are built (``gcp-build-project``; by default the first gcp
    environment's project in platform.yaml)."""
    build_region: str | None = None


class LocalSettings(_Frozen):
    """The local target: ``public`` publishes the service on every interface, not loopback."""

    public: bool = False


class DesiredState(_Frozen):
    component: str
    name: str
    namespace: str
    environment: str
    target: Target
    auto_deploy: bool
    template: str
    source: SourceRef | None
    tag_pattern: str
    containers: tuple[Container, ...]
    ports: tuple[ServicePort, ...]
    resources: tuple[ResourceDependency, ...]
    scaling: Scaling
    public: bool
    gcp: GcpSettings | None = None
    local: LocalSettings | None = None
    labels: dict[str, str]
    settings: dict[str, JsonValue]
    provenance: dict[str, Provenance]

    def hash_payload(self) -> dict[str, Any]:
        """What the hash covers: the effective configuration, not where it came from."""
        payload = self.model_dump(mode="json", exclude={"provenance"})
        if payload.get("source"):
            payload["source"].pop("path", None)
            if payload["source"].get("remote") is None:  # hashes as before the field came
                payload["source"].pop("remote", None)
        return payload

    def canonical_json(self) -> str:
        return json.dumps(
            self.hash_payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def stable_hash(self) -> str:
        """sha256 of the canonical JSON: equal inputs give equal hashes on any machine."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()
