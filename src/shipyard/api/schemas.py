"""The API's request and response bodies: pydantic models, never ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shipyard.api.schemas_history import ResourceChangeRead, StackHealthRead
from shipyard.store.enums import DeploymentStatus, Role

__all__ = [
    "ENVIRONMENT_PATTERN",
    "MAX_ID",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "TAG_PATTERN",
    "AuditList",
    "AuditRead",
    "ComponentDetail",
    "ComponentList",
    "ComponentRegistration",
    "ComponentRegistrationResult",
    "ComponentSummary",
    "ComponentSync",
    "ComponentSyncResult",
    "DeploymentList",
    "DeploymentRead",
    "DeploymentRequest",
    "EnvironmentRequest",
    "EventRead",
    "Health",
    "PreviewRequest",
    "PromoteRequest",
    "RejectedComponent",
    "StackStatus",
    "TokenCreate",
    "TokenCreated",
    "TokenList",
    "TokenRead",
]

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000
"""The largest ``offset`` a list takes (a larger one would overflow the database's ints)."""
MAX_ID = 2**63 - 1
"""The largest id (SQLite's and PostgreSQL's bigint)."""
ENVIRONMENT_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""An environment's name, as the platform file allows it."""
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
"""An image tag (the OCI distribution grammar)."""
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
_HTTP_URL = r"^https?://[^\s/?#@][^\s]*$"
_GIT_URL = r"^[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]*$"
_HOLDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_REF_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_TEAM = rf"^(?:{_REF_PART}:)?(?:{_REF_PART}/)?{_REF_PART}$"

Environment = Annotated[str, StringConstraints(pattern=ENVIRONMENT_PATTERN, max_length=63)]
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN, max_length=128)]
Team = Annotated[str, StringConstraints(pattern=_TEAM, max_length=190)]
"""A team: an ownership ref (``payments``, ``group:payments``, ``group:default/payments``)."""


def _not_null(schema: dict[str, Any], *fields: str) -> None:
    """In ``schema``, type ``fields`` without their ``null`` alternative: the API takes
    them absent, not null."""
    for field in fields:
        prop = schema["properties"][field]
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        prop.pop("default", None)


def _given(model: BaseModel, *fields: str) -> set[str]:
    """Which of ``fields`` the request gave; an explicit null is refused."""
    given = set(fields) & model.model_fields_set
    nulls = sorted(field for field in given if getattr(model, field) is None)
    if nulls:
        raise ValueError(f"{', '.join(map(repr, nulls))} may be left out, not null")
    return given


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Schema):
    status: str = "ok"


def _registration_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "path", "url")
    schema["oneOf"] = [{"required": ["path"]}, {"required": ["url"]}]


class ComponentRegistration(_Schema):
    """Exactly one of ``path`` (on the server's file system) or ``url`` (a git URL)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_registration_schema)

    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        pattern=_NO_CONTROL,
        description="a descriptor file, or a directory holding catalog-info.yaml, under one "
        "of the server's source roots (SHIPYARD_SOURCE_ROOTS)",
    )
    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        pattern=_GIT_URL,
        description="a git repository with catalog-info.yaml at its root",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if len(_given(self, "path", "url")) != 1:
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


class ComponentSummary(_Schema):
    ref: str = Field(description="namespace/name")
    namespace: str
    name: str
    owner: str | None
    template: str | None
    source: str | None
    orphaned: bool = Field(
        default=False,
        description="the Backstage catalog it was synced from no longer lists it (it is kept)",
    )
    orphaned_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class ComponentRegistrationResult(_Schema):
    components: list[ComponentSummary]


def _sync_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "backstage_url", "token")


class ComponentSync(_Schema):
    """Which Backstage catalog to sync from; both default to the server's settings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sync_schema)

    backstage_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=_HTTP_URL,
        description="the Backstage backend URL (http or https); default: SHIPYARD_BACKSTAGE_URL",
    )
    token: str | None = Field(
        default=None,
        min_length=1,
        max_length=8192,
        pattern=r"^[\x21-\x7e]+$",
        description="bearer token for that catalog; default: SHIPYARD_BACKSTAGE_TOKEN, "
        "only when backstage_url is the configured one (or omitted)",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        _given(self, "backstage_url", "token")
        return self


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
    orphaned: list[str] = Field(
        default_factory=list,
        description="synced from this catalog before, no longer in it: marked, never deleted",
    )


class ComponentList(_Schema):
    """One page, ordered by namespace then name; ``next_offset`` and ``next_after`` are
    null on the last."""

    items: list[ComponentSummary]
    offset: int
    limit: int
    next_offset: int | None
    next_after: str | None = Field(
        default=None,
        description="the last item's namespace/name: pass it as `after` for the next page "
        "(a keyset page, as fast at any depth; deep offsets are slow on large catalogs)",
    )


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
    diff: list[ResourceChangeRead] | None = Field(
        default=None,
        description="a finished preview's diff: the resources it would change; else null",
    )


class DeploymentList(_Schema):
    """One page, newest first; ``next_offset`` is null on the last."""

    items: list[DeploymentRead]
    offset: int
    limit: int
    next_offset: int | None


class StackStatus(_Schema):
    environment: str
    url: str | None
    current_release: int | None
    current_tag: str | None
    last_deployment: DeploymentRead | None
    health: StackHealthRead | None = Field(
        default=None, description="the service's health as Shipyard last saw it"
    )


class ComponentDetail(ComponentSummary):
    descriptor: dict[str, Any]
    environments: list[StackStatus]


def _deployment_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "environment", "tag", "release")
    schema["oneOf"] = [
        {"required": ["environment", "tag"], "not": {"required": ["release"]}},
        {"required": ["release"], "not": {"required": ["tag"]}},
    ]


class DeploymentRequest(_Schema):
    """Deploy a tag to an environment, or an existing release (whose environment it is)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_deployment_schema)

    environment: Environment | None = None
    tag: Tag | None = None
    release: int | None = Field(default=None, ge=1, le=MAX_ID)
    force: bool = Field(default=False, description="run even if the same state is running")

    @model_validator(mode="after")
    def _tag_or_release(self) -> Self:
        given = _given(self, "environment", "tag", "release")
        if "release" not in given and not {"environment", "tag"} <= given:
            raise ValueError("give 'environment' and 'tag', or 'release'")
        if {"release", "tag"} <= given:
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

    environment: Environment


def _preview_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "tag")


class PreviewRequest(_Schema):
    """The diff of deploying ``tag`` (without one: of the running release) to ``environment``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_preview_schema)

    environment: Environment
    tag: Tag | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        _given(self, "tag")
        return self


def _promote_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "to")


class PromoteRequest(_Schema):
    """Deploy the image running in ``from`` to ``to`` (default: the next environment)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=_promote_schema
    )

    source: Environment = Field(
        alias="from", description="the environment whose release is promoted"
    )
    destination: Environment | None = Field(
        default=None, alias="to", description="a later environment; default: the next one"
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        if "destination" in self.model_fields_set and self.destination is None:
            raise ValueError("'to' may be left out, not null")
        return self


# --- tokens and the audit log ------------------------------------------------------------


def _token_create_schema(schema: dict[str, Any]) -> None:
    _not_null(schema, "name", "expires_at")


class TokenCreate(_Schema):
    """A new API token: its role, the teams it acts for, when it expires."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_token_create_schema)

    name: str | None = Field(
        default=None,
        pattern=_HOLDER_NAME,
        max_length=64,
        description="who holds it (tokens of one name act as one user in the audit log); "
        "default: <role>-<random>",
    )
    role: Role
    teams: list[Team] = Field(
        default_factory=list,
        max_length=64,
        description="the teams whose components a deployer may change (ownership refs); "
        "a deployer needs at least one",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="when it stops working (RFC 3339, in the future); default: never"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _given(self, "name", "expires_at")
        if self.role is Role.deployer and not self.teams:
            raise ValueError("a deployer token needs at least one team: add teams")
        return self


class TokenRead(_Schema):
    """A token as listed: never its secret."""

    id: int
    name: str
    user: str = Field(description="the user it acts as")
    role: Role
    teams: list[str] = Field(description="canonical ownership refs (group:default/payments)")
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    live: bool = Field(description="neither revoked nor expired")


class TokenCreated(TokenRead):
    secret: str = Field(description="the bearer token itself: shown this once, never again")


class TokenList(_Schema):
    """One page of tokens, oldest first; ``next_offset`` is null on the last."""

    items: list[TokenRead]
    offset: int
    limit: int
    next_offset: int | None


class AuditRead(_Schema):
    """One audit record: who did what, on what, when, from where, and how it ended."""

    id: int
    created_at: datetime
    actor: str | None = Field(description="a user's name, an OIDC subject, or anonymous")
    user_id: int | None
    token_id: int | None
    action: str = Field(description="e.g. deployment.create, token.revoke, http.post")
    subject_type: str
    subject_id: str | None
    component: str | None = Field(description="namespace/name, when it concerns one")
    address: str | None = Field(description="the client's address")
    result: str | None = Field(description="ok, unauthorized, forbidden, invalid or error")
    status_code: int | None
    request_id: str | None
    data: dict[str, Any]


class AuditList(_Schema):
    """One page of audit records, newest first; ``next_offset`` is null on the last."""

    items: list[AuditRead]
    offset: int
    limit: int
    next_offset: int | None
