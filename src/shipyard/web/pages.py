"""The Web UI's pages (server-rendered; a few lines of plain JavaScript for the live log):

- ``GET /``: the components, each environment at a glance; search, owner filter, pages.
- ``GET /components/{namespace}/{name}``: per environment, what runs and the actions the
  signed-in role may take; the history.
- ``GET /deployments/{id}``: a deployment, its log (live while it runs), its diff.
- ``GET /audit`` and ``GET /tokens``: for admins.

Every page needs a signed-in session (:func:`~shipyard.web.session.require_session`);
what a page shows, and what its forms may do, follows the API's rules
(:mod:`shipyard.web._authorize`).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from shipyard.api.dependencies import DatabaseDep, PlatformDep, SettingsDep
from shipyard.clock import utc_now
from shipyard.services.history import (
    component_stacks,
    components_overview,
    deployment_history,
    known_tags,
    owners,
    preview_diff,
)
from shipyard.store import models, transaction
from shipyard.store.audit import list_audit_records
from shipyard.store.components import find_component
from shipyard.store.deployments import get_deployment_with_stack
from shipyard.store.enums import DeploymentStatus, Role
from shipyard.store.environments import list_environments
from shipyard.store.errors import NotFoundError
from shipyard.store.events import list_events
from shipyard.web._authorize import can
from shipyard.web._render import render, render_error
from shipyard.web.session import CurrentSession

__all__ = ["PAGE_SIZE", "install_pages", "router"]

PAGE_SIZE = 50
_MAX_PAGE = 1_000_000
_TEXT = {"max_length": 200, "pattern": r"^[^\x00-\x1f\x7f]*$"}
_STATIC = FilePath(__file__).parent / "static"
_EVENTS_SHOWN = 2000

router = APIRouter(include_in_schema=False)


def install_pages(app: FastAPI) -> None:
    """Mount the pages, their forms, the live log and the static files on ``app``
    (before the sign-in routes: ``/`` is the components page)."""
    from shipyard.web import forms, stream  # they import this module's helpers

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    app.include_router(router)
    app.include_router(forms.router)
    app.include_router(stream.router)


def _environments(session: Any) -> list[str]:
    return [environment.name for environment in list_environments(session)]


@router.get("/", name="components_page")
def components_page(
    request: Request,
    database: DatabaseDep,
    principal: CurrentSession,
    q: Annotated[str | None, Query(**_TEXT)] = None,
    owner: Annotated[str | None, Query(**_TEXT)] = None,
    page: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 1,
) -> Response:
    search, owner = (q or "").strip() or None, (owner or "").strip() or None
    with transaction(database, read_only=True) as session:
        rows, more = components_overview(
            session, search=search, owner=owner, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        return render(
            request,
            "components.html",
            principal,
            {
                "rows": rows,
                "more": more,
                "page": page,
                "q": search or "",
                "owner": owner or "",
                "owners": owners(session),
                "environments": _environments(session),
                "now": utc_now(),
            },
        )


def _stack_actions(
    request: Request, principal: Any, component: models.Component
) -> dict[str, bool]:
    return {
        what: can(request.app, principal, what, component=component.ref, owner=component.owner)
        for what in ("deploy", "preview", "rollback", "promote", "destroy")
    }


@router.get("/components/{namespace}/{name}", name="component_page")
def component_page(
    request: Request,
    namespace: str,
    name: str,
    database: DatabaseDep,
    settings: SettingsDep,
    platform: PlatformDep,
    principal: CurrentSession,
    environment: Annotated[str | None, Query(max_length=63)] = None,
    status: Annotated[DeploymentStatus | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 1,
) -> Response:
    with transaction(database, read_only=True) as session:
        component = find_component(session, namespace, name)
        if component is None:
            return render_error(
                request,
                principal,
                404,
                "No such component",
                f"There is no component {namespace}/{name}: it may have been registered under "
                "another namespace.",
                back="/",
            )
        environment = environment or None
        history = deployment_history(
            session,
            component,
            environment=environment,
            status=status,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        names = _environments(session)
        return render(
            request,
            "component.html",
            principal,
            {
                "component": component,
                "environments": names,
                "next_environment": dict(pairwise(names)),
                "stacks": component_stacks(session, component),
                "env_by_stack": _env_by_stack(session, component),
                "tags": known_tags(session, settings, platform, component),
                "history": history[:PAGE_SIZE],
                "more": len(history) > PAGE_SIZE,
                "page": page,
                "filter_environment": environment or "",
                "filter_status": status.value if status else "",
                "statuses": [s.value for s in DeploymentStatus],
                "actions": _stack_actions(request, principal, component),
                "now": utc_now(),
            },
        )


def _env_by_stack(session: Any, component: models.Component) -> dict[int, str]:
    rows = session.execute(
        select(models.Stack.id, models.Environment.name)
        .join(models.Environment, models.Environment.id == models.Stack.environment_id)
        .where(models.Stack.component_id == component.id)
    )
    return {stack_id: name for stack_id, name in rows}


def next_step(error: str | None) -> str:
    """What to do about a failed deployment, from its error."""
    text = (error or "").lower()
    if "never became healthy" in text or "health" in text:
        return (
            "The new revision did not answer its health check, so traffic stayed on the one "
            "before. Check that the service listens on its port and answers its readiness "
            "path, fix it, tag again and deploy the new tag."
        )
    if "tag" in text and ("not found" in text or "unknown" in text):
        return (
            "That tag is not in the component's repository: push it (git push --tags), or "
            "pick a tag from the list on the component's page."
        )
    if "build" in text:
        return (
            "The image did not build: read the build's lines in the log above, fix the "
            "Dockerfile or the code at that tag, then tag again and deploy."
        )
    if "cancel" in text:
        return "It was cancelled: deploy again when you are ready."
    return (
        "Read the log above for the step that failed and fix its cause, then deploy again. "
        "If the service is broken now, Rollback on the component's page brings back the "
        "release before."
    )


@router.get("/deployments/{deployment_id}", name="deployment_page")
def deployment_page(
    request: Request,
    deployment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    database: DatabaseDep,
    principal: CurrentSession,
) -> Response:
    with transaction(database, read_only=True) as session:
        try:
            deployment, _stack, component, environment = get_deployment_with_stack(
                session, deployment_id
            )
        except NotFoundError:
            return render_error(
                request,
                principal,
                404,
                "No such deployment",
                f"There is no deployment {deployment_id}.",
                back="/",
            )
        events = (
            list_events(session, deployment.job_id, limit=_EVENTS_SHOWN)
            if deployment.job_id is not None
            else []
        )
        requester = (
            session.get(models.User, deployment.requested_by_id)
            if deployment.requested_by_id is not None
            else None
        )
        return render(
            request,
            "deployment.html",
            principal,
            {
                "deployment": deployment,
                "component": component,
                "environment": environment.name,
                "events": events,
                "last_seq": events[-1].seq if events else 0,
                "diff": preview_diff(session, deployment),
                "requester": requester.name if requester is not None else "Shipyard",
                "next_step": next_step(deployment.error),
                "can_deploy": can(
                    request.app,
                    principal,
                    "deploy",
                    component=component.ref,
                    owner=component.owner,
                ),
                "now": utc_now(),
            },
        )


@router.get("/audit", name="audit_page")
def audit_page(
    request: Request,
    database: DatabaseDep,
    principal: CurrentSession,
    actor: Annotated[str | None, Query(**_TEXT)] = None,
    component: Annotated[str | None, Query(**_TEXT)] = None,
    action: Annotated[str | None, Query(**_TEXT)] = None,
    page: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 1,
) -> Response:
    if not can(request.app, principal, "audit"):
        return render_error(
            request, principal, 403, "For admins", "The audit log is for admins.", back="/"
        )
    actor, component, action = (
        (value or "").strip() or None for value in (actor, component, action)
    )
    with transaction(database, read_only=True) as session:
        rows = list_audit_records(
            session,
            actor=actor,
            component=component,
            action=action,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        return render(
            request,
            "audit.html",
            principal,
            {
                "records": rows[:PAGE_SIZE],
                "more": len(rows) > PAGE_SIZE,
                "page": page,
                "filters": {
                    "actor": actor or "",
                    "component": component or "",
                    "action": action or "",
                },
                "now": utc_now(),
            },
        )


def tokens_context(database: Any, page: int = 1) -> dict[str, Any]:
    """The token page's rows (newest first) and choices."""
    now = utc_now()
    with transaction(database, read_only=True) as session:
        rows = session.scalars(
            select(models.ApiToken)
            .order_by(models.ApiToken.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        ).all()
        holders = {token.user_id for token in rows}
        users = {
            user.id: user.name
            for user in session.scalars(select(models.User).where(models.User.id.in_(holders)))
        }
        tokens = [
            {
                "token": token,
                "user": users.get(token.user_id, "?"),
                "live": token.revoked_at is None
                and (token.expires_at is None or token.expires_at > now),
            }
            for token in rows[:PAGE_SIZE]
        ]
    return {
        "tokens": tokens,
        "more": len(rows) > PAGE_SIZE,
        "page": page,
        "roles": [role.value for role in Role],
        "now": now,
    }


@router.get("/tokens", name="tokens_page")
def tokens_page(
    request: Request,
    database: DatabaseDep,
    principal: CurrentSession,
    page: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 1,
) -> Response:
    if not can(request.app, principal, "token.create"):
        return render_error(
            request, principal, 403, "For admins", "Tokens are managed by admins.", back="/"
        )
    return render(request, "tokens.html", principal, tokens_context(database, page))
