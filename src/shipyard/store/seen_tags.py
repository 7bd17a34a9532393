"""The tags triggers already requested, in the store: one record for every host, so a tag
that arrives by webhook on one replica and by polling on another is requested once."""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from shipyard.clock import utc_now
from shipyard.store._database import transaction
from shipyard.store.models import SeenTag

__all__ = ["StoredSeenTags", "import_seen_tags_file"]

_log = structlog.get_logger(__name__)


class StoredSeenTags:
    """``{component: {tag: commit}}`` kept in the ``seen_tags`` table (the same interface
    as the local flow's file, :class:`~shipyard.targets.local.trigger.SeenTags`)."""

    def __init__(self, database: Engine) -> None:
        self.database = database

    def of(self, component: str) -> dict[str, str]:
        with transaction(self.database, read_only=True) as session:
            rows = session.execute(
                select(SeenTag.tag, SeenTag.commit).where(SeenTag.component == component)
            )
            return {tag: commit for tag, commit in rows}

    def add(self, component: str, tag: str, commit: str) -> bool:
        """Record ``tag``; False if it was already recorded (by any host)."""
        try:
            with transaction(self.database) as session:
                session.execute(
                    insert(SeenTag).values(
                        component=component, tag=tag, commit=commit, seen_at=utc_now()
                    )
                )
        except IntegrityError:
            return False
        return True

    def discard(self, component: str, tag: str) -> None:
        with transaction(self.database) as session:
            session.execute(
                delete(SeenTag).where(SeenTag.component == component, SeenTag.tag == tag)
            )


def import_seen_tags_file(database: Engine, path: Path) -> int:
    """Move the tags an earlier version recorded in ``<data-dir>/local/seen-tags.json``
    into the store (without them the poller would request every old tag again), then
    rename the file ``seen-tags.json.imported``. Returns how many tags were new here."""
    if not path.is_file():
        return 0
    data = json.loads(path.read_text() or "{}")
    added = 0
    tags = StoredSeenTags(database)
    for component, seen in data.items():
        for tag, commit in seen.items():
            added += tags.add(str(component), str(tag), str(commit))
    path.rename(path.with_name(path.name + ".imported"))
    _log.info("trigger.seen_tags_imported", path=str(path), tags=added)
    return added
