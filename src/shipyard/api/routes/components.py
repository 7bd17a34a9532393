"""``/api/v1/components``: register, sync (Backstage), list and show components."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from shipyard.api._views import component_detail, component_summary
from shipyard.api.access import access
from shipyard.api.dependencies import DatabaseDep, PlatformDep, SettingsDep
from shipyard.api.schemas import (
    MAX_LIMIT,
    MAX_OFFSET,
    ComponentDetail,
    ComponentList,
    ComponentRegistration,
    ComponentRegistrationResult,
    ComponentSync,
    ComponentSyncResult,
    RejectedComponent,
)
from shipyard.services import backstage, catalog_sync
from shipyard.services import components as service
from shipyard.services.errors import InvalidRequestError
from shipyard.store import transaction
from shipyard.store.components import get_component_by_ref, list_components
from shipyard.store.enums import Role

__all__ = ["router"]

router = APIRouter(prefix="/components", tags=["components"])

_MAX_AFTER = 512


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "every component already existed and was updated"}},
    **access("component.register", Role.admin),
)
def register_components(
    body: ComponentRegistration,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    platform: PlatformDep,
) -> ComponentRegistrationResult:
    """Register (or update) the components of a descriptor file, directory or git repository.

    201 when at least one component is new, 200 when all of them were updated.
    """
    if body.path is not None:
        found, source = service.components_at_path(Path(body.path), settings.source_roots)
    else:
        assert body.url is not None
        found, source = service.components_at_url(body.url, settings)
    with transaction(database) as session:
        registered = service.register(session, found, source, platform)
        result = ComponentRegistrationResult(
            components=[component_summary(entry.component) for entry in registered]
        )
    if not any(entry.created for entry in registered):
        response.status_code = status.HTTP_200_OK
    return result


@router.post(
    "/sync",
    responses={
        422: {"description": "no catalog given or configured, or not an http(s) URL"},
        502: {"description": "the catalog could not be read, or refused the token"},
    },
    **access("component.sync", Role.admin),
)
def sync_components(
    body: ComponentSync, database: DatabaseDep, settings: SettingsDep, platform: PlatformDep
) -> ComponentSyncResult:
    """Register or update every Component of a Backstage catalog carrying shipyard.dev/*
    annotations; one that is invalid or breaks the platform's contract is rejected (and
    reported), the others still sync. 200 with what happened to each."""
    target = backstage.backstage_target(
        body.backstage_url,
        body.token,
        settings.backstage_url,
        settings.backstage_token,
        allowed=settings.backstage_catalog_urls,
    )
    catalog = backstage.read_backstage(target)
    with transaction(database) as session:
        result = backstage.sync_from_backstage(session, catalog, platform, catalog_url=target.url)
        orphaned = catalog_sync.orphans_after(session, catalog, result)
    return ComponentSyncResult(
        orphaned=orphaned,
        catalog=result.catalog,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=[
            RejectedComponent(
                ref=entry.ref, problems=[problem.as_dict() for problem in entry.problems]
            )
            for entry in result.rejected
        ],
    )


@router.get("", **access("component.list", Role.viewer))
def get_components(
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    after: Annotated[
        str | None,
        Query(
            max_length=_MAX_AFTER,
            description="namespace/name: the page after this component (`next_after`)",
        ),
    ] = None,
) -> ComponentList:
    """Components ordered by namespace and name, one page at a time: by ``offset``, or
    after a component (``after``, the previous page's ``next_after``: fast at any depth)."""
    key = _component_key(after) if after is not None else None
    with transaction(database, read_only=True) as session:
        rows = list_components(session, offset=offset, limit=limit + 1, after=key)
        items = [component_summary(component) for component in rows[:limit]]
        last = f"{rows[limit - 1].namespace}/{rows[limit - 1].name}" if len(rows) > limit else None
    return ComponentList(
        items=items,
        offset=offset,
        limit=limit,
        next_offset=offset + limit if last is not None else None,
        next_after=last,
    )


def _component_key(after: str) -> tuple[str, str]:
    namespace, slash, name = after.partition("/")
    if not slash or not namespace or not name or "\x00" in after:
        raise InvalidRequestError(
            f"after {after!r} is not namespace/name: pass a page's next_after as it is"
        )
    return namespace, name


@router.get("/{namespace}/{name}", **access("component.read", Role.viewer))
def get_component(namespace: str, name: str, database: DatabaseDep) -> ComponentDetail:
    """A component, its descriptor, and where it runs in each environment."""
    with transaction(database, read_only=True) as session:
        return component_detail(session, get_component_by_ref(session, namespace, name))
