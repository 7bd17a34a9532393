"""The Backstage catalog kept in sync by itself.

:func:`sync_catalog` reads the configured catalog (``SHIPYARD_BACKSTAGE_URL``), registers
new components, updates changed ones (:func:`~shipyard.services.backstage.sync_from_backstage`)
and marks ``orphaned`` the components it synced before that the catalog no longer lists
(their ``orphaned_at``; a component is never destroyed or deleted by a sync, and one that
comes back is no longer orphaned). :class:`CatalogSyncer` runs it every
``SHIPYARD_BACKSTAGE_SYNC_INTERVAL`` seconds inside ``shipyard serve``;
:func:`sync_entity_hook` syncs one entity at once, for ``POST /api/v1/hooks/backstage``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shipyard.catalog import Platform
from shipyard.catalog.backstage import CatalogComponents, EntityRef, InvalidEntityRef
from shipyard.clock import utc_now
from shipyard.errors import ShipyardError
from shipyard.services.backstage import (
    SyncResult,
    backstage_target,
    read_backstage,
    sync_from_backstage,
)
from shipyard.services.desired import platform_of
from shipyard.services.hooks import PayloadError, ReplayError
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.models import Component
from shipyard.store.webhooks import forget_delivery, record_delivery

__all__ = [
    "CatalogSyncResult",
    "CatalogSyncer",
    "entity_ref",
    "mark_orphans",
    "orphans_after",
    "sync_catalog",
    "sync_entity_hook",
]

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogSyncResult:
    """A sync's result, and the components it found gone (``orphaned``) or back."""

    result: SyncResult
    orphaned: list[str]
    restored: list[str]

    def as_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "catalog": result.catalog,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": [
                {"ref": entry.ref, "problems": [p.as_dict() for p in entry.problems]}
                for entry in result.rejected
            ],
            "orphaned": self.orphaned,
            "restored": self.restored,
        }


def _source_prefix(catalog_url: str) -> str:
    """How :func:`sync_from_backstage` records a component's ``source``."""
    return f"{catalog_url} component:"


def mark_orphans(
    session: Session,
    catalog_url: str,
    listed: set[str],
    *,
    only: set[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Components synced from ``catalog_url`` (their ``source`` says so) whose ref is not
    in ``listed`` get ``orphaned_at``; listed ones lose it. ``only``: look at these refs
    alone (a one-entity sync). Returns (newly orphaned, restored), sorted."""
    query = select(Component).where(
        Component.source.startswith(_source_prefix(catalog_url), autoescape=True)
    )
    orphaned, restored = [], []
    for component in session.scalars(query):
        if only is not None and component.ref not in only:
            continue
        if component.ref in listed:
            if component.orphaned_at is not None:
                component.orphaned_at = None
                restored.append(component.ref)
        elif component.orphaned_at is None:
            component.orphaned_at = utc_now()
            orphaned.append(component.ref)
    session.flush()
    return sorted(orphaned), sorted(restored)


def _listed(catalog: CatalogComponents, result: SyncResult) -> set[str]:
    """Every ref the catalog still has: synced or not (a rejected one is still there)."""
    return {component.id for component in catalog.components} | {
        entry.ref for entry in result.rejected
    }


def orphans_after(session: Session, catalog: CatalogComponents, result: SyncResult) -> list[str]:
    """After a full sync of ``result.catalog``: mark what it no longer lists orphaned (and
    un-mark what came back); the newly orphaned refs."""
    return mark_orphans(session, result.catalog, _listed(catalog, result))[0]


def _platform(settings: Settings) -> Platform | None:
    return platform_of(settings) if settings.platform is not None else None


def sync_catalog(settings: Settings, database: Engine, **client_options: Any) -> CatalogSyncResult:
    """One full sync of ``SHIPYARD_BACKSTAGE_URL``'s catalog (read before the transaction
    opens); raises :class:`~shipyard.catalog.backstage.BackstageError` when it cannot be read."""
    target = backstage_target(
        None,
        None,
        settings.backstage_url,
        settings.backstage_token,
        allowed=settings.backstage_catalog_urls,
    )
    catalog = read_backstage(target, **client_options)
    platform = _platform(settings)
    with transaction(database) as session:
        result = sync_from_backstage(session, catalog, platform, catalog_url=target.url)
        orphaned, restored = mark_orphans(session, target.url, _listed(catalog, result))
    found = CatalogSyncResult(result, orphaned, restored)
    _log.info(
        "catalog.synced",
        catalog=target.url,
        created=len(result.created),
        updated=len(result.updated),
        orphaned=orphaned,
        restored=restored,
        rejected=len(result.rejected),
    )
    return found


def entity_ref(data: Any) -> EntityRef:
    """``{"entityRef": "component:<namespace>/<name>"}`` (``kind`` may be left out)."""
    value = data.get("entityRef") if isinstance(data, Mapping) else None
    if not isinstance(value, str) or len(value) > 512:
        raise PayloadError('the body must be {"entityRef": "component:<namespace>/<name>"}')
    try:
        ref = EntityRef.parse(value, default_kind="component")
    except InvalidEntityRef as exc:
        raise PayloadError(str(exc)) from exc
    if ref.kind != "component":
        raise PayloadError(f"{value!r} is a {ref.kind}: only components are synced")
    return ref


def sync_entity(settings: Settings, database: Engine, ref: EntityRef) -> CatalogSyncResult:
    """Sync one component of the configured catalog now: registered or updated if the
    catalog has it, marked orphaned if not (the catalog is read whole: its API's query is
    the one the full sync pages through)."""
    target = backstage_target(
        None,
        None,
        settings.backstage_url,
        settings.backstage_token,
        allowed=settings.backstage_catalog_urls,
    )
    wanted = f"{ref.namespace}/{ref.name}"
    catalog = read_backstage(target)
    mine = CatalogComponents(
        tuple(c for c in catalog.components if c.id.lower() == wanted.lower()),
        tuple(p for p in catalog.problems if p.file.lower().endswith(f":{wanted.lower()}")),
        catalog.total_items,
    )
    with transaction(database) as session:
        result = sync_from_backstage(session, mine, _platform(settings), catalog_url=target.url)
        listed = _listed(mine, result)
        known = {
            component.ref
            for component in session.scalars(select(Component).where(Component.name == ref.name))
            if component.namespace.lower() == ref.namespace
        }
        orphaned, restored = mark_orphans(
            session, target.url, listed, only=known | {wanted} | listed
        )
    return CatalogSyncResult(result, orphaned, restored)


def sync_entity_hook(
    settings: Settings, database: Engine, delivery_id: str, ref: EntityRef
) -> dict[str, Any]:
    """The Backstage webhook, once its signature verified: refuse a replay, sync."""
    with transaction(database) as session:
        if not record_delivery(session, "backstage", delivery_id):
            raise ReplayError(f"delivery {delivery_id[:80]!r} was received before: a replay")
    try:
        synced = sync_entity(settings, database, ref)
    except BaseException:
        with transaction(database) as session:
            forget_delivery(session, "backstage", delivery_id)  # the sender may retry
        raise
    return {"entityRef": str(ref), **synced.as_dict()}


class CatalogSyncer:
    """Calls :func:`sync_catalog` every ``interval_s`` (``tick`` is called often by the
    server's trigger loop; it syncs when the interval has passed). A failed sync is
    logged and tried again at the next interval."""

    def __init__(self, settings: Settings, database: Engine) -> None:
        self.settings = settings
        self.database = database
        self.interval_s = settings.backstage_sync_interval
        self._next = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0 and self.settings.backstage_url is not None

    def tick(self) -> CatalogSyncResult | None:
        if not self.enabled or time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.interval_s
        try:
            return sync_catalog(self.settings, self.database)
        except ShipyardError as exc:
            _log.warning("catalog.sync_failed", error=str(exc))
            return None
