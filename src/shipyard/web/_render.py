"""Rendering the Web UI's pages: one Jinja2 environment (autoescaped), its filters, and
what every page's layout needs (who is signed in, their CSRF token, the navigation)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shipyard.api.auth import Principal
from shipyard.clock import utc_now
from shipyard.web.session import CSRF_FIELD, current_web_session

__all__ = ["TEMPLATES", "ago", "render", "render_error"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

_FINISHED = frozenset({"succeeded", "failed", "cancelled", "unchanged"})


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``: short, for tables (the exact time goes in a ``title``)."""
    if when is None:
        return "—"
    seconds = int(((now or utc_now()) - when).total_seconds())
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


TEMPLATES.env.filters["ago"] = ago
TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.globals["duration"] = _duration
TEMPLATES.env.globals["finished"] = _FINISHED


def render(
    request: Request,
    template: str,
    principal: Principal,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """A page in the signed-in layout."""
    page = {
        "principal": principal,
        "csrf_field": CSRF_FIELD,
        "csrf_token": current_web_session(request).csrf_token,
        "is_admin": principal.is_admin,
        "path": request.url.path,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(
    request: Request,
    principal: Principal,
    status: int,
    title: str,
    detail: str,
    *,
    back: str | None = None,
) -> HTMLResponse:
    """The error page: what went wrong, and a way back."""
    return render(
        request,
        "error.html",
        principal,
        {"title": title, "detail": detail, "back": back, "status": status},
        status=status,
    )
