"""The Web UI's cookie session, as dependencies for its pages.

- :func:`require_session`: the signed-in :class:`~shipyard.api.auth.Principal`
  (``method="session"``); without a live session a page answers a redirect to
  ``/login`` (a ``GET``) or 401 (anything else). A session opened with a token dies with
  the token: its liveness is checked on every request.
- :func:`require_csrf`: a state-changing form must carry the session's CSRF token (the
  hidden field ``csrf_token``, or the ``X-CSRF-Token`` header for scripts); 403 otherwise.

The cookie ``shipyard_session`` holds a random id (the database keeps its sha256):
``HttpOnly``, ``SameSite=Lax``, ``Path=/``, ``Secure`` when the request came over https.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, Response
from starlette.responses import RedirectResponse

from shipyard.api.auth import Principal, bind_principal
from shipyard.api.dependencies import DatabaseDep
from shipyard.store import transaction
from shipyard.store.models import WebSession
from shipyard.store.sessions import find_live_session

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentSession",
    "SignInRequired",
    "clear_session_cookie",
    "current_web_session",
    "require_csrf",
    "require_session",
    "set_session_cookie",
    "sign_in_required_handler",
]

SESSION_COOKIE = "shipyard_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/login"


class SignInRequired(Exception):
    """No live session: a page sends the browser to ``/login``."""


def sign_in_required_handler(request: Request, exc: Exception) -> Response:
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(LOGIN_PATH, status_code=303)
    response = Response(
        "Your session has ended: sign in again at /login.\n",
        status_code=401,
        media_type="text/plain",
    )
    clear_session_cookie(response, request)
    return response


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, value: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


def require_session(request: Request, database: DatabaseDep) -> Principal:
    """The principal of the browser's live session, or :class:`SignInRequired`."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 256:
        raise SignInRequired
    with transaction(database, read_only=True) as session:
        live = find_live_session(session, value)
        if live is None:
            raise SignInRequired
        web_session, user = live.session, live.user
        session.expunge(web_session)
        principal = Principal(
            user_id=user.id,
            user_name=user.name,
            token_id=web_session.token_id,
            role=web_session.role,
            teams=frozenset(web_session.teams),
            method="session",
            subject=user.subject,
        )
    request.state.web_session = web_session
    return bind_principal(request, principal)


CurrentSession = Annotated[Principal, Depends(require_session)]


def current_web_session(request: Request) -> WebSession:
    """The session :func:`require_session` found for this request."""
    found: WebSession = request.state.web_session
    return found


def require_csrf(
    request: Request,
    principal: CurrentSession,
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Principal:
    """The session's principal, if the request carries the session's CSRF token."""
    given = csrf_token or request.headers.get(CSRF_HEADER)
    expected = current_web_session(request).csrf_token
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=403,
            detail=(
                "this form lacks its CSRF token (or carries another session's): reload "
                "the page and send it again"
            ),
        )
    return principal
