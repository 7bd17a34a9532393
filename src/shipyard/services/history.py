"""What the Web UI and the read routes show: a component's deployment history, the tags
Shipyard knows for it, a preview's diff, each stack's health as last seen, and the
components overview (one page of components with their stacks, in a fixed number of
queries whatever the page size)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shipyard.catalog import CatalogError, DesiredState, Platform
from shipyard.catalog.sources import within_roots
from shipyard.errors import ShipyardError
from shipyard.services.desired import desired_state
from shipyard.settings import Settings
from shipyard.store import models
from shipyard.store.enums import DeploymentStatus

__all__ = [
    "ComponentOverview",
    "KnownTag",
    "ResourceChange",
    "StackHealth",
    "StackOverview",
    "component_stacks",
    "components_overview",
    "deployment_history",
    "known_tags",
    "owners",
    "preview_diff",
    "stack_health",
]

_log = structlog.get_logger(__name__)

_NO_CHANGE_OPS = frozenset({"same", "read", "refresh"})
_RUNTIME_REASONS = ("deploy", "auto", "rollback", "promote", "provision", "destroy")
"""Deployments that start or stop a service: the ones whose health check decides it."""
_GIT_TIMEOUT_S = 10.0
_DIGITS = re.compile(r"(\d+)")
_LIKE_ESCAPE = "\\"


# --- history ----------------------------------------------------------------------------


def deployment_history(
    session: Session,
    component: models.Component,
    *,
    environment: str | None = None,
    status: DeploymentStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Sequence[models.Deployment]:
    """The component's deployments in every (or one) environment, newest first."""
    query = (
        select(models.Deployment)
        .join(models.Stack, models.Stack.id == models.Deployment.stack_id)
        .where(models.Stack.component_id == component.id)
        .order_by(models.Deployment.id.desc())
    )
    if environment is not None:
        query = query.join(
            models.Environment, models.Environment.id == models.Stack.environment_id
        ).where(models.Environment.name == environment)
    if status is not None:
        query = query.where(models.Deployment.status == status)
    return session.scalars(query.offset(max(0, offset)).limit(max(1, limit))).all()


# --- a preview's diff -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One resource a preview would change."""

    resource: str
    """The resource's name (the last part of its URN)."""
    type: str | None
    operation: str
    """create, update, replace, delete..."""
    changed_inputs: tuple[str, ...]
    urn: str


def preview_diff(session: Session, deployment: models.Deployment) -> list[ResourceChange] | None:
    """What a finished preview would change, resource by resource, from its job's engine
    events; ``None`` for anything else (not a preview, or one that did not finish)."""
    if deployment.reason != "preview" or deployment.job_id is None:
        return None
    if deployment.status is not DeploymentStatus.succeeded:
        return None
    rows = session.scalars(
        select(models.Event.data)
        .where(models.Event.job_id == deployment.job_id)
        .where(models.Event.kind == "engine.resource_step")
        .order_by(models.Event.seq)
    ).all()
    changes: dict[str, ResourceChange] = {}
    for data in rows:
        if not data:
            continue
        op, urn = str(data.get("op") or ""), str(data.get("urn") or "")
        if not op or not urn or op in _NO_CHANGE_OPS:
            continue
        changes[urn] = ResourceChange(
            resource=urn.rsplit("::", 1)[-1],
            type=data.get("resource_type"),
            operation=op,
            changed_inputs=tuple(str(key) for key in data.get("changed_keys") or ()),
            urn=urn,
        )
    return list(changes.values())


# --- health -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StackHealth:
    """The service's health as Shipyard last saw it: a deployment switches traffic to a
    new revision only once it answers its health check, so the last one that ran says."""

    status: str
    """``healthy``, ``unhealthy`` (the last attempt failed; the revision before it, if
    any, still serves), ``stopped`` (destroyed), ``unknown`` (never deployed)."""
    checked_at: datetime | None
    detail: str


def _health_of(stack: models.Stack, last: models.Deployment | None) -> StackHealth:
    if stack.destroyed_at is not None and (last is None or last.reason == "destroy"):
        return StackHealth("stopped", stack.destroyed_at, "destroyed: nothing runs")
    if last is None:
        return StackHealth("unknown", None, "never deployed")
    if last.status in (DeploymentStatus.succeeded, DeploymentStatus.unchanged):
        return StackHealth(
            "healthy", last.finished_at, f"answered its health check ({last.reason})"
        )
    if last.status is DeploymentStatus.failed:
        serving = "the previous revision still serves" if stack.current_release_id else ""
        detail = f"the last {last.reason} failed" + (f"; {serving}" if serving else "")
        return StackHealth("unhealthy", last.finished_at, detail)
    if last.status is DeploymentStatus.cancelled:
        return StackHealth("unknown", last.finished_at, f"the last {last.reason} was cancelled")
    return StackHealth("unknown", None, f"a {last.reason} is {last.status.value}")


def _last_runtime(session: Session, stack_ids: Sequence[int]) -> dict[int, models.Deployment]:
    """The latest finished deployment that started or stopped each stack's service."""
    if not stack_ids:
        return {}
    newest = (
        select(func.max(models.Deployment.id))
        .where(models.Deployment.stack_id.in_(stack_ids))
        .where(models.Deployment.reason.in_(_RUNTIME_REASONS))
        .where(models.Deployment.finished_at.is_not(None))
        .group_by(models.Deployment.stack_id)
    )
    rows = session.scalars(select(models.Deployment).where(models.Deployment.id.in_(newest)))
    return {row.stack_id: row for row in rows}


def stack_health(session: Session, stack: models.Stack) -> StackHealth:
    return _health_of(stack, _last_runtime(session, [stack.id]).get(stack.id))


# --- the components overview --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StackOverview:
    environment: str
    url: str | None
    running_tag: str | None
    release: int | None
    last: models.Deployment | None
    health: StackHealth


@dataclass(frozen=True, slots=True)
class ComponentOverview:
    component: models.Component
    stacks: dict[str, StackOverview] = field(default_factory=dict)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def components_overview(
    session: Session,
    *,
    search: str | None = None,
    owner: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ComponentOverview], bool]:
    """One page of components (by namespace, name) matching ``search`` (in the name,
    namespace or owner) and ``owner`` (exactly), each with its stacks; and whether more
    follow. Six queries, whatever the page size."""
    query = select(models.Component).order_by(models.Component.namespace, models.Component.name)
    if search:
        pattern = _like(search.lower())
        query = query.where(
            or_(
                func.lower(models.Component.name).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(models.Component.namespace).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(models.Component.owner).like(pattern, escape=_LIKE_ESCAPE),
            )
        )
    if owner:
        query = query.where(models.Component.owner == owner)
    rows = session.scalars(query.offset(max(0, offset)).limit(limit + 1)).all()
    components = list(rows[:limit])
    overviews = {c.id: ComponentOverview(c) for c in components}
    if not components:
        return [], False
    stacks = session.scalars(
        select(models.Stack).where(models.Stack.component_id.in_(overviews))
    ).all()
    for stack, seen in zip(stacks, _stack_overviews(session, stacks), strict=True):
        overviews[stack.component_id].stacks[seen.environment] = seen
    return [overviews[c.id] for c in components], len(rows) > limit


def component_stacks(session: Session, component: models.Component) -> dict[str, StackOverview]:
    """Where ``component`` runs, by environment name (stacks it has only)."""
    stacks = session.scalars(
        select(models.Stack).where(models.Stack.component_id == component.id)
    ).all()
    return {seen.environment: seen for seen in _stack_overviews(session, stacks)}


def _stack_overviews(session: Session, stacks: Sequence[models.Stack]) -> list[StackOverview]:
    """Each stack's overview, in order: four queries for them all."""
    if not stacks:
        return []
    stack_ids = [stack.id for stack in stacks]
    environments = {e.id: e.name for e in session.scalars(select(models.Environment))}
    release_ids = [s.current_release_id for s in stacks if s.current_release_id is not None]
    tags: dict[int, str | None] = {
        release_id: tag
        for release_id, tag in session.execute(
            select(models.Release.id, models.Release.tag).where(models.Release.id.in_(release_ids))
        )
    }
    newest = (
        select(func.max(models.Deployment.id))
        .where(models.Deployment.stack_id.in_(stack_ids))
        .group_by(models.Deployment.stack_id)
    )
    latest = {
        d.stack_id: d
        for d in session.scalars(select(models.Deployment).where(models.Deployment.id.in_(newest)))
    }
    runtime = _last_runtime(session, stack_ids)
    return [
        StackOverview(
            environment=environments.get(stack.environment_id, "?"),
            url=stack.url,
            running_tag=tags.get(stack.current_release_id)
            if stack.current_release_id is not None
            else None,
            release=stack.current_release_id,
            last=latest.get(stack.id),
            health=_health_of(stack, runtime.get(stack.id)),
        )
        for stack in stacks
    ]


def owners(session: Session) -> list[str]:
    """Every owner a component names, sorted (the filter's choices)."""
    found = session.scalars(
        select(models.Component.owner)
        .where(models.Component.owner.is_not(None))
        .distinct()
        .order_by(models.Component.owner)
        .limit(1000)
    ).all()
    return [owner for owner in found if owner]


# --- known tags ---------------------------------------------------------------------------


@dataclass(slots=True)
class KnownTag:
    tag: str
    commit: str | None = None
    created_at: datetime | None = None
    """When the tag was made (its repository), else when Shipyard first built it."""
    build: str | None = None
    """The status of Shipyard's latest build of the tag, if any."""
    matches: dict[str, bool] = field(default_factory=dict)
    """Per environment: whether the tag matches the ``tag-pattern`` there."""
    environments: list[str] = field(default_factory=list)
    """The environments running it now."""


def _version_key(tag: str) -> list[tuple[int, str]]:
    return [(int(part), "") if part.isdigit() else (-1, part) for part in _DIGITS.split(tag)]


def _git_tags(repository: Path) -> dict[str, tuple[str, datetime | None]]:
    """``{tag: (commit, date)}`` of a git repository on this machine (a source directory
    or Shipyard's mirror), read without touching the network; {} when it cannot be read."""
    fmt = "%(refname:strip=2)%00%(*objectname)%00%(objectname)%00%(creatordate:unix)"
    try:
        done = subprocess.run(
            ["git", "-C", str(repository), "for-each-ref", f"--format={fmt}", "refs/tags"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log.warning("tags.unreadable", repository=str(repository), error=str(exc))
        return {}
    if done.returncode != 0:
        return {}
    tags: dict[str, tuple[str, datetime | None]] = {}
    for line in done.stdout.splitlines():
        parts = line.split("\0")
        if len(parts) != 4:
            continue
        name, peeled, sha, stamp = parts
        when = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None
        tags[name] = (peeled or sha, when)
    return tags


def _repository_of(settings: Settings, desired: DesiredState) -> Path | None:
    """Where the source's tags can be read locally: the directory itself for a local
    source, Shipyard's mirror (as last fetched by a build) for a remote one."""
    source = desired.source
    if source is None:
        return None
    if source.path:  # read only under the roots an admin allowed, as builds do
        path = Path(source.path)
        return path if within_roots(path, settings.source_roots) else None
    if source.url is None:
        return None
    from shipyard.sources import GitSources  # the mirror's naming rule, one place

    try:
        mirror = GitSources.from_settings(settings).mirror_path(source.url)
    except ShipyardError:
        return None
    return mirror if mirror.is_dir() else None


def known_tags(
    session: Session,
    settings: Settings,
    platform: Platform | None,
    component: models.Component,
    *,
    limit: int = 200,
) -> list[KnownTag]:
    """The tags Shipyard knows for ``component`` (its repository's, as this machine last
    saw them, and the ones it built or released), newest first."""
    environments = session.scalars(
        select(models.Environment).order_by(models.Environment.position, models.Environment.name)
    ).all()
    patterns: dict[str, re.Pattern[str] | None] = {}
    repository: Path | None = None
    for environment in environments:
        patterns[environment.name] = None
        if platform is None:
            continue
        try:
            desired = desired_state(component, environment.name, platform)
        except (CatalogError, ShipyardError):
            continue
        try:
            patterns[environment.name] = re.compile(desired.tag_pattern)
        except re.error:
            patterns[environment.name] = None
        if repository is None:
            repository = _repository_of(settings, desired)
    found: dict[str, KnownTag] = {}
    if repository is not None:
        for name, (commit, when) in _git_tags(repository).items():
            found[name] = KnownTag(name, commit=commit, created_at=when)
    builds = session.scalars(
        select(models.Build)
        .where(models.Build.component_id == component.id)
        .order_by(models.Build.id.desc())
    ).all()
    dated = {name for name, tag in found.items() if tag.created_at is not None}
    for build in builds:  # newest first: the last one seen of a tag is its first build
        known = found.setdefault(build.ref, KnownTag(build.ref, commit=build.commit))
        if known.build is None:
            known.build = build.status.value
        if build.ref not in dated:
            known.created_at = build.created_at
        known.commit = known.commit or build.commit
    running = session.execute(
        select(models.Environment.name, models.Release.tag)
        .join(models.Stack, models.Stack.environment_id == models.Environment.id)
        .join(models.Release, models.Release.id == models.Stack.current_release_id)
        .where(models.Stack.component_id == component.id)
        .where(models.Stack.destroyed_at.is_(None))
    )
    for environment_name, tag in running:
        if tag is None:
            continue
        found.setdefault(tag, KnownTag(tag)).environments.append(environment_name)
    for known in found.values():
        known.matches = {
            name: bool(pattern is not None and pattern.search(known.tag))
            for name, pattern in patterns.items()
        }
    epoch = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(
        found.values(),
        key=lambda t: (t.created_at or epoch, _version_key(t.tag)),
        reverse=True,
    )
    return ordered[:limit]
