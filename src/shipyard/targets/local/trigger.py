"""The local trigger: a tag watcher per component that turns each new git tag matching
the component's tag pattern into one "build requested" event, never two."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from shipyard._files import locked, read_json, write_json
from shipyard.errors import ShipyardError
from shipyard.settings import Settings
from shipyard.sources import GitSources, is_local_source
from shipyard.targets.local.errors import LocalTargetError

__all__ = [
    "LOCAL_POLL_INTERVAL_S",
    "REMOTE_POLL_INTERVAL_S",
    "BuildRequested",
    "InvalidTagPatternError",
    "SeenTags",
    "TagRecord",
    "TagWatcher",
    "compile_tag_pattern",
]

LOCAL_POLL_INTERVAL_S = 5.0
REMOTE_POLL_INTERVAL_S = 60.0

_log = structlog.get_logger(__name__)
_DIGITS = re.compile(r"(\d+)")


class InvalidTagPatternError(LocalTargetError):
    """A component's tag pattern is not a valid regular expression."""


@dataclass(frozen=True, slots=True)
class BuildRequested:
    component: str
    source: str
    tag: str
    commit: str


class TagRecord(Protocol):
    """The tags already requested, per component (``{component: {tag: commit}}``)."""

    def of(self, component: str) -> dict[str, str]: ...

    def add(self, component: str, tag: str, commit: str) -> bool:
        """Record ``tag``; False if it was already recorded (by anyone)."""
        ...

    def discard(self, component: str, tag: str) -> None: ...


class SeenTags:
    """A :class:`TagRecord` in one JSON file, written atomically under a file lock: the
    record of the local flow, which runs without a store. The control plane keeps its
    record in the store (:class:`~shipyard.store.seen_tags.StoredSeenTags`), shared by
    every host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> SeenTags:
        return cls(settings.data_dir / "local" / "seen-tags.json")

    def of(self, component: str) -> dict[str, str]:
        return dict(read_json(self.path).get(component, {}))

    def add(self, component: str, tag: str, commit: str) -> bool:
        """Record ``tag``; False if it was already recorded (by anyone)."""
        with locked(self.path):
            data = read_json(self.path)
            tags = data.setdefault(component, {})
            if tag in tags:
                return False
            tags[tag] = commit
            write_json(self.path, data)
            return True

    def discard(self, component: str, tag: str) -> None:
        with locked(self.path):
            data = read_json(self.path)
            if data.get(component, {}).pop(tag, None) is not None:
                write_json(self.path, data)


def _version_key(tag: str) -> list[tuple[int, str]]:
    return [(int(part), "") if part.isdigit() else (-1, part) for part in _DIGITS.split(tag)]


def compile_tag_pattern(component: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise InvalidTagPatternError(
            f"{component}: tag-pattern {pattern!r} is not a valid regular expression ({exc}); "
            "fix the shipyard.dev/tag-pattern annotation or the template setting"
        ) from exc


class TagWatcher:
    """Polls one component's repository and requests each new matching tag once.

    A tag is recorded as seen *before* its event is emitted (so two watchers, or a watcher
    and a retry, never request it twice); if the callback raises, the record is undone
    and the tag comes again at the next poll."""

    def __init__(
        self,
        component: str,
        source: str,
        tag_pattern: str,
        *,
        sources: GitSources,
        seen: TagRecord,
        on_build_requested: Callable[[BuildRequested], None],
        interval_s: float | None = None,
    ) -> None:
        self.component = component
        local: bool | None = None
        try:
            local = is_local_source(source)
            self.source = sources.checked(source)
        except ShipyardError:  # a refused source: each poll fails saying why, nothing runs
            self.source = source
        self.pattern = compile_tag_pattern(component, tag_pattern)
        self.sources = sources
        self.seen = seen
        self.on_build_requested = on_build_requested
        self.interval_s = interval_s or (LOCAL_POLL_INTERVAL_S if local else REMOTE_POLL_INTERVAL_S)
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = _log.bind(component=component, source=self.source)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        component: str,
        source: str,
        tag_pattern: str,
        on_build_requested: Callable[[BuildRequested], None],
        *,
        seen: TagRecord | None = None,
    ) -> TagWatcher:
        """``seen``: the record to share (default: the data dir's file)."""
        return cls(
            component,
            source,
            tag_pattern,
            sources=GitSources.from_settings(settings),
            seen=seen if seen is not None else SeenTags.from_settings(settings),
            on_build_requested=on_build_requested,
            interval_s=settings.tag_poll_interval,
        )

    def poll_once(self) -> list[BuildRequested]:
        """List the remote's tags and request a build of each new matching one."""
        with self._poll_lock:
            tags = self.sources.ls_remote_tags(self.source)
            seen = self.seen.of(self.component)
            requested = []
            for tag in sorted(tags, key=_version_key):
                if self.pattern.search(tag) is None:
                    continue
                if tag in seen:
                    if seen[tag] != tags[tag]:
                        self._log.warning(
                            "trigger.tag_moved", tag=tag, built=seen[tag], now=tags[tag]
                        )
                    continue
                if not self.seen.add(self.component, tag, tags[tag]):
                    continue
                event = BuildRequested(self.component, self.source, tag, tags[tag])
                self._log.info("trigger.build_requested", tag=tag, commit=tags[tag])
                try:
                    self.on_build_requested(event)
                except BaseException:
                    self.seen.discard(self.component, tag)
                    raise
                requested.append(event)
            return requested

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; a failed poll is logged and retried next interval."""
        while not stop.is_set():
            try:
                self.poll_once()
            except ShipyardError as exc:
                self._log.warning("trigger.poll_failed", error=str(exc))
            stop.wait(self.interval_s)

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run,
            args=(self._stop,),
            name=f"tag-watcher {self.component}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
