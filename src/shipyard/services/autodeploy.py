"""New tags deploy themselves: the tag watcher's "build requested" becomes a deploy of
the tag to every environment with ``autoDeploy``."""

from __future__ import annotations

import structlog
from sqlalchemy import Engine

from shipyard.services.deployments import SYSTEM, Actor, request_deployment
from shipyard.services.targets import AVAILABLE_TARGETS
from shipyard.store import transaction
from shipyard.store.environments import list_environments
from shipyard.targets.local.trigger import BuildRequested

__all__ = ["on_new_tag"]

_log = structlog.get_logger(__name__)


def on_new_tag(database: Engine, event: BuildRequested, actor: Actor = SYSTEM) -> list[int]:
    """Queue a deploy of ``event.tag`` to each autoDeploy environment (in promotion
    order, one transaction; environments whose target is not available here are
    skipped); the ids of the deployments. The jobs build the image once:
    the first builds it, the others find it."""
    namespace, _, name = event.component.rpartition("/")
    with transaction(database) as session:
        deployments = [
            request_deployment(
                session,
                namespace or "default",
                name,
                environment=environment.name,
                tag=event.tag,
                actor=actor,
                reason="auto",
            )
            for environment in list_environments(session)
            if environment.auto_deploy and environment.target in AVAILABLE_TARGETS
        ]
        ids = [deployment.id for deployment in deployments]
    _log.info("autodeploy.queued", component=event.component, tag=event.tag, deployments=ids)
    return ids
