"""The platform file: loaded at start, its environments synced into the store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shipyard.catalog import Platform
from shipyard.store.environments import upsert_environment
from shipyard.store.models import Environment

__all__ = ["sync_environments"]


def sync_environments(session: Session, platform: Platform) -> Sequence[Environment]:
    """Create or update one environment per platform environment, in promotion order.

    Environments no longer in the file stay in the store: their history keeps its record.
    """
    return [
        upsert_environment(
            session,
            env.name,
            target=env.target,
            position=position,
            auto_deploy=env.auto_deploy,
            settings=dict(env.settings),
        )
        for position, env in enumerate(platform.environments)
    ]
