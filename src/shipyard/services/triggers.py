"""The server's triggers: one tag watcher per registered component, kept in step with
the store, whose new tags become auto-deploys (:func:`~shipyard.services.autodeploy.on_new_tag`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine, func, select

from shipyard.catalog import CatalogError, DesiredState, Platform
from shipyard.errors import ShipyardError
from shipyard.services.autodeploy import on_new_tag
from shipyard.services.catalog_sync import CatalogSyncer
from shipyard.services.desired import desired_state, platform_of
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.store.components import walk_components
from shipyard.store.seen_tags import StoredSeenTags, import_seen_tags_file
from shipyard.targets.local.trigger import BuildRequested, SeenTags, TagWatcher

__all__ = ["TriggerSupervisor", "WatchedSource"]

_log = structlog.get_logger(__name__)
_PAGE = 500
_FULL_SYNC_S = 60.0
"""A sync that finds neither the components nor the platform changed still resolves every
component this often (a source's ``score.yaml`` edited on disk)."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a sync resolved from: the platform (by identity: ``platform_of`` returns the
    same object while the file's content is the same) and the components table."""

    platform: Platform
    components: int
    newest_id: int | None
    last_update: datetime | None
    at: float

    def same(self, other: _Seen) -> bool:
        return (
            self.platform is other.platform
            and (self.components, self.newest_id, self.last_update)
            == (other.components, other.newest_id, other.last_update)
            and self.at - other.at < _FULL_SYNC_S
        )


@dataclass(frozen=True, slots=True)
class WatchedSource:
    """What a component's watcher polls: its source and its tag pattern."""

    component: str
    source: str
    tag_pattern: str


def _watched(desired: DesiredState) -> WatchedSource | None:
    if desired.source is None:
        return None
    source = desired.source.url or desired.source.path or desired.source.spec
    return WatchedSource(desired.component, source, desired.tag_pattern)


class TriggerSupervisor:
    """Keeps a :class:`TagWatcher` running for each registered component with a source.

    The source and tag pattern come from the component's first environment whose target
    is local (the tag pattern is a template setting, the same for every environment
    unless a platform overrides it per environment; the first local one decides).
    """

    def __init__(self, settings: Settings, database: Engine, *, sync_every_s: float = 5.0):
        self.settings = settings
        self.database = database
        self.sync_every_s = sync_every_s
        self._watchers: dict[str, tuple[WatchedSource, TagWatcher]] = {}
        self._synced: _Seen | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tags = StoredSeenTags(database)

    def _seen(self) -> _Seen:
        platform = platform_of(self.settings)
        with transaction(self.database, read_only=True) as session:
            count, newest_id, last_update = session.execute(
                select(
                    func.count(models.Component.id),
                    func.max(models.Component.id),
                    func.max(models.Component.updated_at),
                )
            ).one()
        return _Seen(platform, count, newest_id, last_update, time.monotonic())

    def _wanted(self, platform: Platform) -> dict[str, WatchedSource]:
        local = [env.name for env in platform.environments if env.target == "local"]
        if not local:
            return {}
        wanted: dict[str, WatchedSource] = {}
        with transaction(self.database, read_only=True) as session:
            for component in walk_components(session, page_size=_PAGE):
                try:
                    watched = _watched(desired_state(component, local[0], platform))
                except (CatalogError, ShipyardError) as exc:
                    _log.warning("trigger.unresolvable", component=component.ref, error=str(exc))
                    continue
                if watched is not None:
                    wanted[watched.component] = watched
        return wanted

    def _on_tag(self, event: BuildRequested) -> None:
        on_new_tag(self.database, event)

    def sync(self) -> None:
        """Start watchers for new components, restart changed ones, stop removed ones.

        Resolving every component's desired state parses its descriptor and Score file: a
        sync that finds the components table and the platform as the last one did skips
        it (one aggregate query), but for a full one every ``_FULL_SYNC_S``."""
        seen = self._seen()
        if self._synced is not None and seen.same(self._synced):
            return
        wanted = self._wanted(seen.platform)
        for component in set(self._watchers) - set(wanted):
            self._watchers.pop(component)[1].stop()
        for component, watched in wanted.items():
            current = self._watchers.get(component)
            if current is not None and current[0] == watched:
                continue
            if current is not None:
                current[1].stop()
            watcher = TagWatcher.from_settings(
                self.settings,
                watched.component,
                watched.source,
                watched.tag_pattern,
                self._on_tag,
                seen=self._tags,
            )
            watcher.start()
            self._watchers[component] = (watched, watcher)
            _log.info("trigger.watching", component=component, source=watched.source)
        self._synced = seen

    def _run(self) -> None:
        catalog = CatalogSyncer(self.settings, self.database)  # SHIPYARD_BACKSTAGE_SYNC_INTERVAL
        while not self._stop.is_set():
            catalog.tick()  # a new component is watched at this same round
            try:
                self.sync()
            except ShipyardError as exc:
                _log.warning("trigger.sync_failed", error=str(exc))
            self._stop.wait(self.sync_every_s)

    def start(self) -> None:
        import_seen_tags_file(self.database, SeenTags.from_settings(self.settings).path)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="trigger-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for _, watcher in self._watchers.values():
            watcher.stop()
        self._watchers.clear()
