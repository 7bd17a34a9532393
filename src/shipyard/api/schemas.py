"""The API's request and response bodies: pydantic models, never ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.store.enums import DeploymentStatus

__all__ = [
    "MAX_LIMIT",
    "ComponentDetail",
    "ComponentList",
    "ComponentRegistration",
    "ComponentRegistrationResult",
    "ComponentSummary",
    "ComponentSync",
    "ComponentSyncResult",
    "DeploymentRead",
    "DeploymentRequest",
    "EnvironmentRequest",
    "EventRead",
    "Health",
    "PreviewRequest",
    "PromoteRequest",
    "RejectedComponent",
    "StackStatus",
]

MAX_LIMIT = 200


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Schema):
    status: str = "ok"


class ComponentRegistration(_Schema):
    """Exactly one of ``path`` (on the server's file system) or ``url`` (a git URL)."""

    path: str | None = Field(
        default=None, description="a descriptor file, or a directory holding catalog-info.yaml"
    )
    url: str | None = Field(
        default=None, description="a git repository with catalog-info.yaml at its root"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


class ComponentSummary(_Schema):
    ref: str = Field(description="namespace/name")
    namespace: str
    name: str
    owner: str | None
    template: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class ComponentRegistrationResult(_Schema):
    components: list[ComponentSummary]


class ComponentSync(_Schema):
    """Which Backstage catalog to sync from; both default to the server's settings."""

    backstage_url: str | None = Field(
        default=None,
        description="the Backstage backend URL; default: SHIPYARD_BACKSTAGE_URL",
    )
    token: str | None = Field(
        default=None,
        description="bearer token for that catalog; default: SHIPYARD_BACKSTAGE_TOKEN, "
        "only when backstage_url is the configured one (or omitted)",
    )


class RejectedComponent(_Schema):
    ref: str = Field(description="namespace/name (lower-cased for an invalid entity)")
    problems: list[dict[str, Any]] = Field(
        description="[{file, line, column, path, message, hint}]; line and column are null"
    )


class ComponentSyncResult(_Schema):
    """What the sync did to each annotated Component of the catalog (refs namespace/name)."""

    catalog: str
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    rejected: list[RejectedComponent]


class ComponentList(_Schema):
    """One page, ordered by namespace then name; ``next_offset`` is null on the last."""

    items: list[ComponentSummary]
    offset: int
    limit: int
    next_offset: int | None


class DeploymentRead(_Schema):
    id: int
    component: str = Field(description="namespace/name")
    environment: str
    tag: str | None
    release: int | None = Field(description="the release id, once one is known")
    status: DeploymentStatus
    url: str | None = Field(description="the service's URL, once deployed")
    reason: str
    force: bool
    error: str | None
    job: int | None = Field(description="the id of the job that runs it")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class StackStatus(_Schema):
    environment: str
    url: str | None
    current_release: int | None
    current_tag: str | None
    last_deployment: DeploymentRead | None


class ComponentDetail(ComponentSummary):
    descriptor: dict[str, Any]
    environments: list[StackStatus]


class DeploymentRequest(_Schema):
    """Deploy a tag to an environment, or an existing release (whose environment it is)."""

    environment: str | None = None
    tag: str | None = None
    release: int | None = None
    force: bool = Field(default=False, description="run even if the same state is running")

    @model_validator(mode="after")
    def _tag_or_release(self) -> Self:
        by_tag = self.environment is not None and self.tag is not None
        if self.release is None and not by_tag:
            raise ValueError("give 'environment' and 'tag', or 'release'")
        if self.release is not None and self.tag is not None:
            raise ValueError("give 'tag' or 'release', not both")
        return self


class EventRead(_Schema):
    """One event of a deployment's job; ``seq`` is its SSE id."""

    seq: int
    kind: str
    level: str
    message: str
    data: dict[str, Any] | None
    created_at: datetime


class EnvironmentRequest(_Schema):
    """An operation on the component's stack in one environment."""

    environment: str


class PreviewRequest(_Schema):
    """The diff of deploying ``tag`` (without one: of the running release) to ``environment``."""

    environment: str
    tag: str | None = None


class PromoteRequest(_Schema):
    """Deploy the image running in ``from`` to ``to`` (default: the next environment)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="the environment whose release is promoted")
    destination: str | None = Field(
        default=None, alias="to", description="a later environment; default: the next one"
    )
