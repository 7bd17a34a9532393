"""The Web UI's forms: each does the work of one API route, through the same service and
under the same rule (:mod:`shipyard.web._authorize`), after the session's CSRF token was
checked (:func:`~shipyard.web.session.require_csrf`). A refused form answers an error
page with the API's status (403 for a role that may not); the audit log records each
form like the API request it stands for."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from shipyard.api.access import ACCESS_EXTENSION, AccessDeniedError, Rule
from shipyard.api.auth import Principal
from shipyard.api.dependencies import DatabaseDep, PlatformDep, SettingsDep
from shipyard.api.problems import STATUS_BY_ERROR
from shipyard.catalog.ownership import owner_ref
from shipyard.clock import utc_now
from shipyard.errors import ShipyardError
from shipyard.services import operations
from shipyard.services.deployments import Actor, deploy
from shipyard.store import models, transaction
from shipyard.store.audit import current_audit, record_audit
from shipyard.store.auth import issue_token, revoke_token, token_holder
from shipyard.store.components import find_component
from shipyard.store.enums import Role
from shipyard.web._authorize import check
from shipyard.web._render import render, render_error
from shipyard.web.pages import tokens_context
from shipyard.web.session import require_csrf

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Csrf = Annotated[Principal, Depends(require_csrf)]
_ENVIRONMENT = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_REF_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_TEAM = rf"^(?:{_REF_PART}:)?(?:{_REF_PART}/)?{_REF_PART}$"
EnvironmentField = Annotated[str, Form(max_length=63, pattern=_ENVIRONMENT)]
TagField = Annotated[str, Form(max_length=128, pattern=_TAG)]


def _audited(action: str, role: Role, owned: bool = True) -> dict[str, Any]:
    """The audit record of the form names the API's action for the same work."""
    rule = Rule(action, role, "component" if owned else None)
    return {"openapi_extra": {ACCESS_EXTENSION: rule.document()}}


def _status_of(error: ShipyardError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _actor(request: Request, principal: Principal) -> Actor:
    return Actor(
        user_id=principal.user_id,
        token_id=principal.token_id,
        request_id=getattr(request.state, "request_id", None),
    )


def _refused(request: Request, principal: Principal, error: ShipyardError, back: str) -> Response:
    status = _status_of(error)
    title = "Not allowed" if isinstance(error, AccessDeniedError) else "That did not work"
    return render_error(request, principal, status, title, str(error), back=back)


def _on_component(
    request: Request,
    principal: Principal,
    database: Any,
    namespace: str,
    name: str,
    what: str,
    run: Callable[[models.Component], int],
) -> Response:
    """Check ``what`` is allowed on the component, run it; to the deployment's page."""
    ref, back = f"{namespace}/{name}", f"/components/{namespace}/{name}"
    context = current_audit()
    if context is not None:
        context.component = ref
    with transaction(database, read_only=True) as session:
        component = find_component(session, namespace, name)
        owner = component.owner if component is not None else None
    try:
        check(request.app, principal, what, component=ref, owner=owner)
        if component is None:
            return render_error(
                request, principal, 404, "No such component", f"{ref} is not registered."
            )
        deployment_id = run(component)
    except ShipyardError as error:
        return _refused(request, principal, error, back)
    return RedirectResponse(f"/deployments/{deployment_id}", status_code=303)


@router.post(
    "/components/{namespace}/{name}/deploy", **_audited("deployment.create", Role.deployer)
)
def deploy_form(
    request: Request,
    namespace: str,
    name: str,
    principal: Csrf,
    database: DatabaseDep,
    settings: SettingsDep,
    platform: PlatformDep,
    environment: EnvironmentField,
    tag: TagField,
) -> Response:
    def run(component: models.Component) -> int:
        deployment = deploy(
            database,
            settings,
            platform,
            component.namespace,
            component.name,
            environment=environment,
            tag=tag,
            actor=_actor(request, principal),
        )
        return deployment.id

    return _on_component(request, principal, database, namespace, name, "deploy", run)


def _operation(
    request: Request,
    principal: Principal,
    database: Any,
    namespace: str,
    name: str,
    what: str,
    operation: Callable[[Session, Actor], models.Deployment],
) -> Response:
    def run(component: models.Component) -> int:
        del component
        with transaction(database) as session:
            return operation(session, _actor(request, principal)).id

    return _on_component(request, principal, database, namespace, name, what, run)


@router.post("/components/{namespace}/{name}/preview", **_audited("stack.preview", Role.deployer))
def preview_form(
    request: Request,
    namespace: str,
    name: str,
    principal: Csrf,
    database: DatabaseDep,
    environment: EnvironmentField,
    tag: TagField,
) -> Response:
    return _operation(
        request,
        principal,
        database,
        namespace,
        name,
        "preview",
        lambda session, actor: operations.request_preview(
            session, namespace, name, environment, tag, actor
        ),
    )


@router.post("/components/{namespace}/{name}/rollback", **_audited("stack.rollback", Role.deployer))
def rollback_form(
    request: Request,
    namespace: str,
    name: str,
    principal: Csrf,
    database: DatabaseDep,
    environment: EnvironmentField,
) -> Response:
    return _operation(
        request,
        principal,
        database,
        namespace,
        name,
        "rollback",
        lambda session, actor: operations.request_rollback(
            session, namespace, name, environment, actor
        ),
    )


@router.post("/components/{namespace}/{name}/promote", **_audited("stack.promote", Role.deployer))
def promote_form(
    request: Request,
    namespace: str,
    name: str,
    principal: Csrf,
    database: DatabaseDep,
    environment: EnvironmentField,
) -> Response:
    return _operation(
        request,
        principal,
        database,
        namespace,
        name,
        "promote",
        lambda session, actor: operations.request_promote(
            session, namespace, name, environment, None, actor
        ),
    )


@router.post(
    "/components/{namespace}/{name}/destroy", **_audited("stack.destroy", Role.admin, False)
)
def destroy_form(
    request: Request,
    namespace: str,
    name: str,
    principal: Csrf,
    database: DatabaseDep,
    environment: EnvironmentField,
    confirm: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if confirm.strip() != name:
        return render_error(
            request,
            principal,
            422,
            "Not confirmed",
            f"To destroy {namespace}/{name} in {environment}, type the component's name "
            f"({name}) in the confirmation box. Nothing was destroyed.",
            back=f"/components/{namespace}/{name}",
        )
    return _operation(
        request,
        principal,
        database,
        namespace,
        name,
        "destroy",
        lambda session, actor: operations.request_destroy(
            session, namespace, name, environment, actor
        ),
    )


@router.post("/tokens", **_audited("token.create", Role.admin, False))
def create_token_form(
    request: Request,
    principal: Csrf,
    database: DatabaseDep,
    role: Annotated[Role, Form()],
    name: Annotated[str, Form(max_length=64)] = "",
    teams: Annotated[str, Form(max_length=2000)] = "",
    expires_days: Annotated[int | None, Form(ge=1, le=3650)] = None,
) -> Response:
    """Issue a token; the page shows its secret this once."""
    try:
        check(request.app, principal, "token.create")
        holder = name.strip() or f"{role.value}-{secrets.token_hex(3)}"
        if not _matches(_NAME, holder):
            return render_error(
                request,
                principal,
                422,
                "Not a usable name",
                f"{holder[:64]!r} is not a token name: use letters, digits and . _ @ - "
                "(up to 64, starting with a letter or digit).",
                back="/tokens",
            )
        given = [team.strip() for team in teams.replace("\n", ",").split(",")]
        bad = [team for team in given if team and not _matches(_TEAM, team)]
        if bad:
            return render_error(
                request,
                principal,
                422,
                "Not a team",
                f"{bad[0][:100]!r} is not a team: give an ownership ref such as payments, "
                "group:payments or group:default/payments.",
                back="/tokens",
            )
        team_refs = list(dict.fromkeys(owner_ref(team) for team in given if team))
        if role is Role.deployer and not team_refs:
            return render_error(
                request,
                principal,
                422,
                "A deployer needs a team",
                "A deployer acts for the components its teams own: name at least one team "
                "(e.g. payments or group:default/payments).",
                back="/tokens",
            )
        expires = utc_now() + timedelta(days=expires_days) if expires_days else None
        with transaction(database) as session:
            issued = issue_token(
                session,
                token_holder(session, holder),
                holder,
                role=role,
                teams=team_refs,
                expires_at=expires,
                created_by=session.get_one(models.User, principal.user_id),
            )
            record_audit(
                session,
                "token.create",
                "token",
                issued.token.id,
                data={
                    "name": holder,
                    "role": role.value,
                    "teams": team_refs,
                    "expires_at": expires.isoformat() if expires else None,
                },
            )
            secret, token_id = issued.secret, issued.token.id
    except ShipyardError as error:
        return _refused(request, principal, error, "/tokens")
    context = tokens_context(database)
    context["issued"] = {"id": token_id, "name": holder, "secret": secret}
    return render(request, "tokens.html", principal, context, status=201)


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


@router.post("/tokens/{token_id}/revoke", **_audited("token.revoke", Role.admin, False))
def revoke_token_form(
    request: Request,
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: Csrf,
    database: DatabaseDep,
) -> Response:
    try:
        check(request.app, principal, "token.revoke")
        with transaction(database) as session:
            token = revoke_token(session, token_id)
            record_audit(session, "token.revoke", "token", token.id, data={"name": token.name})
    except ShipyardError as error:
        return _refused(request, principal, error, "/tokens")
    return RedirectResponse("/tokens", status_code=303)
