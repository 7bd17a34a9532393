"""Read routes of a component's past and options: its deployment history and the tags
Shipyard knows for it (what the Web UI's pages and the Backstage plugin show)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shipyard.api._params import Limit, Offset
from shipyard.api._views import deployment_read
from shipyard.api.access import access
from shipyard.api.dependencies import DatabaseDep, PlatformDep, SettingsDep
from shipyard.api.schemas import ENVIRONMENT_PATTERN, DeploymentList
from shipyard.api.schemas_history import TagList, TagRead
from shipyard.services.history import deployment_history, known_tags
from shipyard.store import transaction
from shipyard.store.components import get_component_by_ref
from shipyard.store.enums import DeploymentStatus, Role

__all__ = ["router"]

router = APIRouter(prefix="/components/{namespace}/{name}", tags=["components"])


@router.get("/deployments", **access("deployment.list", Role.viewer))
def list_component_deployments(
    namespace: str,
    name: str,
    database: DatabaseDep,
    environment: Annotated[
        str | None,
        Query(max_length=63, pattern=ENVIRONMENT_PATTERN, description="only this environment's"),
    ] = None,
    status: Annotated[DeploymentStatus | None, Query(description="only this status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeploymentList:
    """The component's deployments (every operation: deploys, rollbacks, promotions,
    previews, destroys...), newest first, one page at a time."""
    with transaction(database, read_only=True) as session:
        component = get_component_by_ref(session, namespace, name)
        rows = deployment_history(
            session,
            component,
            environment=environment,
            status=status,
            offset=offset,
            limit=limit + 1,
        )
        items = [deployment_read(session, row) for row in rows[:limit]]
    more = len(rows) > limit
    return DeploymentList(
        items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
    )


@router.get("/tags", **access("component.tags", Role.viewer))
def list_component_tags(
    namespace: str,
    name: str,
    database: DatabaseDep,
    settings: SettingsDep,
    platform: PlatformDep,
) -> TagList:
    """The tags Shipyard knows for the component, newest first: its repository's (as
    this server last saw them: the source directory, or the mirror its builds fetch) and
    the ones it built or runs; each says, per environment, whether it matches the
    template's ``tag-pattern``, and which environments run it."""
    with transaction(database, read_only=True) as session:
        component = get_component_by_ref(session, namespace, name)
        tags = known_tags(session, settings, platform, component)
        ref = component.ref
    return TagList(
        component=ref,
        items=[
            TagRead(
                tag=tag.tag,
                commit=tag.commit,
                created_at=tag.created_at,
                build=tag.build,
                matches=tag.matches,
                environments=tag.environments,
            )
            for tag in tags
        ],
    )
