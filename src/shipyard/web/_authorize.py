"""The Web UI asks the API's own rules: each button and form names the API route it does
the work of, and :mod:`shipyard.api.access` decides, as it does for that route. So a
button is shown exactly when its form would be allowed, and a rule changed for the API
changes for the pages too."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from shipyard.api.access import AccessDeniedError, Rule, authorize, route_rule
from shipyard.api.auth import Principal
from shipyard.store.enums import Role

__all__ = ["API_ROUTES", "api_rule", "can", "check"]

API_PREFIX = "/api/v1"
"""The app's (not imported: the app imports the pages); a test checks every route below."""
_COMPONENT = f"{API_PREFIX}/components/{{namespace}}/{{name}}"

API_ROUTES: dict[str, tuple[str, str]] = {
    "deploy": ("POST", f"{_COMPONENT}/deployments"),
    "preview": ("POST", f"{_COMPONENT}/previews"),
    "rollback": ("POST", f"{_COMPONENT}/rollback"),
    "promote": ("POST", f"{_COMPONENT}/promote"),
    "destroy": ("POST", f"{_COMPONENT}/destroy"),
    "token.create": ("POST", f"{API_PREFIX}/tokens"),
    "token.revoke": ("DELETE", f"{API_PREFIX}/tokens/{{token_id}}"),
    "audit": ("GET", f"{API_PREFIX}/audit"),
}
"""What the pages do, and the API route whose rule governs it."""

_FALLBACK = Rule("web.admin", Role.admin)
"""A route the app does not have (it should): admins only."""


def _rules(app: FastAPI) -> dict[tuple[str, str], Rule]:
    cached: dict[tuple[str, str], Rule] | None = getattr(app.state, "web_rules", None)
    if cached is not None:
        return cached
    found: dict[tuple[str, str], Rule] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        rule = route_rule(route) if isinstance(route, APIRoute) else None
        if rule is None or context.path_format is None:
            continue
        path = context.path_format
        role = None if rule.get("role") == "public" else Role(str(rule["role"]))
        owned: Literal["component"] | None = (
            "component" if rule.get("own_team_only") and "{name}" in path else None
        )
        for method in context.methods or ():
            found[(method, path)] = Rule(str(rule["action"]), role, owned)
    app.state.web_rules = found
    return found


def api_rule(app: FastAPI, what: str) -> Rule:
    """The rule of the API route that does ``what`` (a key of :data:`API_ROUTES`)."""
    return _rules(app).get(API_ROUTES[what], _FALLBACK)


def check(
    app: FastAPI,
    principal: Principal,
    what: str,
    *,
    component: str | None = None,
    owner: str | None = None,
) -> None:
    """Raise :class:`AccessDeniedError` unless ``principal`` may do ``what``."""
    authorize(principal, api_rule(app, what), component=component, owner=owner)


def can(
    app: FastAPI,
    principal: Principal,
    what: str,
    *,
    component: str | None = None,
    owner: str | None = None,
) -> bool:
    """Whether to show the button that does ``what``."""
    try:
        check(app, principal, what, component=component, owner=owner)
    except AccessDeniedError:
        return False
    return True
