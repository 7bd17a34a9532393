"""Authorisation: what each role may do, decided in one place.

========  ==============================================================================
viewer    reads: components, deployments, their events, metrics, the OpenAPI document
deployer  a viewer who also deploys, previews, rolls back, promotes, provisions,
          refreshes and cancels, for the components its teams own (``spec.owner``)
admin     everything: also destroy, registering components (by path or URL), Backstage
          sync, tokens, webhook subscriptions (and their deliveries) and the audit log
========  ==============================================================================

The webhook routes (``/api/v1/hooks/*``) are the only ones authenticated by a signature
instead (``access(..., None, signed=True)``; the route verifies it, see
:mod:`shipyard.services.hooks`); ``/healthz`` alone needs nothing.

Every route declares its rule with :func:`access` (``@router.post(..., **access(...))``):
a dependency that enforces it and an ``x-shipyard-access`` extension in the OpenAPI
document that shows it. The audit middleware names a request's action from the same rule.
A component's team is its ``spec.owner``, compared with a principal's teams in canonical
form (:func:`shipyard.catalog.ownership.owner_ref`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from shipyard.api._params import Id
from shipyard.api.auth import CurrentPrincipal, Principal
from shipyard.api.dependencies import DatabaseDep
from shipyard.catalog.ownership import owner_ref
from shipyard.errors import ShipyardError
from shipyard.store import transaction
from shipyard.store.audit import current_audit
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import get_deployment_with_stack
from shipyard.store.enums import Role

__all__ = [
    "ACCESS_EXTENSION",
    "AccessDeniedError",
    "Rule",
    "access",
    "authorize",
    "route_rule",
]

ACCESS_EXTENSION = "x-shipyard-access"

Owned = Literal["component", "deployment"]


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call a route: ``role`` or above (``None``: anyone, without credentials);
    with ``owned_by``, a deployer only for a component its teams own (found from the
    path's ``namespace``/``name``, or its ``deployment_id``)."""

    action: str
    role: Role | None
    owned_by: Owned | None = None
    signed: bool = False
    """Authenticated by the request's webhook signature, not by a bearer token: the
    ``/api/v1/hooks/*`` routes, and only they (``role`` is then ``None``)."""

    def document(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "role": self.role.value if self.role is not None else "public",
            "own_team_only": self.owned_by is not None,
            "authentication": (
                "signature" if self.signed else "none" if self.role is None else "bearer"
            ),
        }


class AccessDeniedError(ShipyardError):
    """403: the caller is known but its role or teams do not allow this."""

    def __init__(
        self, message: str, *, required_role: Role, required_team: str | None = None
    ) -> None:
        super().__init__(message)
        self.required_role = required_role
        self.required_team = required_team

    def extensions(self) -> dict[str, Any]:
        found: dict[str, Any] = {"required_role": self.required_role.value}
        if self.required_team is not None:
            found["required_team"] = self.required_team
        return found


def _teams(principal: Principal) -> str:
    return ", ".join(sorted(principal.teams)) or "none"


def _check_role(rule: Rule, principal: Principal) -> None:
    assert rule.role is not None
    if principal.role.allows(rule.role):
        return
    needed = rule.role
    if rule.owned_by is not None:
        message = (
            f"{rule.action} needs the deployer role for a team that owns the component "
            f"(or admin); this credential is a {principal.role.value}"
        )
    else:
        message = f"{rule.action} needs the {needed.value} role; this credential is a " + (
            principal.role.value
        )
    raise AccessDeniedError(message, required_role=needed)


def _check_owner(rule: Rule, principal: Principal, ref: str, owner: str | None) -> None:
    if principal.is_admin:
        return
    team = owner_ref(owner) if owner else None
    if team is not None and team in principal.teams:
        return
    whose = f"its owner {team}" if team else "no team (it has no spec.owner): only an admin"
    raise AccessDeniedError(
        f"{rule.action} on {ref} is for {whose}; this {principal.role.value} acts for: "
        f"{_teams(principal)}",
        required_role=Role.deployer if team else Role.admin,
        required_team=team,
    )


def _note(request: Request, component: str | None) -> None:
    """What the audit record of this request says: on which component, and the status
    the route answers when it succeeds."""
    context = current_audit()
    if context is None:
        return
    if component is not None:
        context.component = component
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        context.success_status = route.status_code or 200  # FastAPI's default


def _enforcer(rule: Rule) -> Callable[..., None]:
    if rule.owned_by == "component":

        def on_component(
            request: Request,
            namespace: str,
            name: str,
            principal: CurrentPrincipal,
            database: DatabaseDep,
        ) -> None:
            ref = f"{namespace}/{name}"
            _note(request, ref)
            _check_role(rule, principal)
            if principal.is_admin:
                return  # the route itself says if the component does not exist
            with transaction(database, read_only=True) as session:
                owner = get_component_by_ref(session, namespace, name).owner
            _check_owner(rule, principal, ref, owner)

        return on_component

    if rule.owned_by == "deployment":

        def on_deployment(
            request: Request, deployment_id: Id, principal: CurrentPrincipal, database: DatabaseDep
        ) -> None:
            _note(request, None)
            _check_role(rule, principal)
            with transaction(database, read_only=True) as session:
                _, _, component, _ = get_deployment_with_stack(session, deployment_id)
                ref, owner = component.ref, component.owner
            _note(request, ref)
            _check_owner(rule, principal, ref, owner)

        return on_deployment

    def on_any(request: Request, principal: CurrentPrincipal) -> None:
        _note(request, None)
        _check_role(rule, principal)

    return on_any


def access(
    action: str, role: Role | None, *, owned_by: Owned | None = None, signed: bool = False
) -> dict[str, Any]:
    """A route's keyword arguments for its rule: the enforcing dependency (none for a
    public route, or one that checks a webhook signature itself: ``signed``) and the
    OpenAPI extension that documents it."""
    if signed and role is not None:
        raise ValueError(f"{action}: a signed route takes no bearer role")
    rule = Rule(action, role, owned_by, signed)
    dependencies = [] if role is None else [Depends(_enforcer(rule))]
    return {
        "dependencies": dependencies,
        "openapi_extra": {ACCESS_EXTENSION: rule.document()},
    }


def route_rule(route: BaseRoute | None) -> dict[str, Any] | None:
    """The access rule a route declares (its OpenAPI extension), if any."""
    if not isinstance(route, APIRoute) or not route.openapi_extra:
        return None
    found = route.openapi_extra.get(ACCESS_EXTENSION)
    return found if isinstance(found, dict) else None


def authorize(
    principal: Principal, rule: Rule, *, component: str | None = None, owner: str | None = None
) -> None:
    """Raise :class:`AccessDeniedError` unless ``principal`` may act by ``rule`` on
    ``component`` (``namespace/name``, owned by ``owner``): the checks a route's dependency
    makes, for callers that are not API routes (the Web UI's forms and buttons)."""
    if rule.role is None:
        return
    _check_role(rule, principal)
    if rule.owned_by is not None and component is not None:
        _check_owner(rule, principal, component, owner)
