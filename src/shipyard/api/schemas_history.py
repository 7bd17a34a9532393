"""Response bodies of the read routes the Web UI needs: history, known tags, a
preview's diff, a stack's health (pydantic models, never ORM models)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ResourceChangeRead", "StackHealthRead", "TagList", "TagRead"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceChangeRead(_Schema):
    """One resource a preview would change."""

    resource: str = Field(description="the resource's name (the last part of its URN)")
    type: str | None = Field(description="its Pulumi type, e.g. shipyard:local:Service")
    operation: str = Field(description="create, update, replace, delete, ...")
    changed_inputs: list[str] = Field(description="the inputs that differ (for an update)")
    urn: str


class StackHealthRead(_Schema):
    """The service's health as Shipyard last saw it: traffic moves to a new revision only
    once it answers its health check, so the last deployment that ran says."""

    status: str = Field(description="healthy, unhealthy, stopped or unknown")
    checked_at: datetime | None
    detail: str


class TagRead(_Schema):
    tag: str
    commit: str | None
    created_at: datetime | None = Field(
        description="when the tag was made, else when Shipyard first built it"
    )
    build: str | None = Field(description="the status of Shipyard's latest build of it")
    matches: dict[str, bool] = Field(
        description="per environment: whether the tag matches its tag-pattern"
    )
    environments: list[str] = Field(description="the environments running it now")


class TagList(_Schema):
    """Newest first."""

    component: str = Field(description="namespace/name")
    items: list[TagRead]
