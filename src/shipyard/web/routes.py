"""Sign-in and sign-out pages: with an API token, or through the OIDC issuer.

- ``GET /login``: the form (an API token; a link to the issuer when OIDC is set up).
- ``POST /login``: the token becomes a session (its role and teams; it ends when the
  token is revoked or expires). The form carries a login CSRF value (double-submitted:
  a cookie and a field) so another site cannot sign a browser in as someone else.
- ``GET /login/oidc``: to the issuer's authorization endpoint (code flow, PKCE S256, a
  state and a nonce kept in a signed cookie for ten minutes).
- ``GET /auth/callback``: the code is exchanged at the token endpoint, the ID token
  checked (the same verifier as bearer JWTs, the nonce too), and the person's session
  opened with the role and teams of their groups.
- ``POST /logout``: ends the session on the server and clears the cookie.
- ``GET /account``: who is signed in (name, role, teams), and the sign-out button.

Every sign-in, successful or not, is written to the audit log (``session.sign_in``).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.api.auth import Principal
from shipyard.api.dependencies import DatabaseDep, SettingsDep
from shipyard.api.oidc import (
    OidcError,
    OidcIdentity,
    OidcTokenError,
    OidcUnavailableError,
    OidcVerifier,
    app_verifier,
    install_verifier,
    pkce_challenge,
)
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.audit import ANONYMOUS, record_audit
from shipyard.store.auth import ensure_person, find_live_token
from shipyard.store.models import User
from shipyard.store.sessions import end_session, end_session_of_cookie, open_session
from shipyard.web._signing import Signer
from shipyard.web.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SignInRequired,
    clear_session_cookie,
    current_web_session,
    is_https,
    require_csrf,
    require_session,
    set_session_cookie,
    sign_in_required_handler,
)

__all__ = ["install_web", "router"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOGIN_COOKIE = "shipyard_login"
FLOW_COOKIE = "shipyard_oidc"
CALLBACK_PATH = "/auth/callback"
FLOW_MAX_AGE = 600
_FLOW = "oidc-flow"
_ACTION = "session.sign_in"
_MAX_FIELD = 4096
_RESULTS = {401: "unauthorized", 403: "forbidden", 502: "error"}

router = APIRouter(include_in_schema=False)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Mount the sign-in pages on ``app`` and build its OIDC verifier (if configured)."""
    install_verifier(app, settings)
    app.state.web_signer = Signer(settings.data_dir)
    app.add_exception_handler(SignInRequired, sign_in_required_handler)
    app.include_router(router)


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.web_signer
    return signer


def _oidc_ready(request: Request, settings: Settings) -> OidcVerifier | None:
    verifier = app_verifier(request)
    return verifier if verifier is not None and settings.oidc_client_id else None


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _audit(
    database: Engine,
    request: Request,
    *,
    status: int,
    method: str,
    user: User | None = None,
    token_id: int | None = None,
    session_id: int | None = None,
    reason: str | None = None,
    session: Session | None = None,
) -> None:
    """One ``session.sign_in`` record; in ``session``'s transaction if given."""
    data: dict[str, Any] = {"method": method}
    if reason is not None:
        data["reason"] = reason[:300]
    fields: dict[str, Any] = {
        "actor": (user.subject or user.name) if user is not None else ANONYMOUS,
        "actor_user_id": None if user is None else user.id,
        "actor_token_id": token_id,
        "address": _address(request),
        "result": _RESULTS.get(status, "ok" if status < 400 else "invalid"),
        "status_code": status,
        "request_id": getattr(request.state, "request_id", None),
        "data": data,
    }
    if session is not None:
        record_audit(session, _ACTION, "session", session_id, **fields)
        return
    with transaction(database) as new_session:
        record_audit(new_session, _ACTION, "session", session_id, **fields)


def _login_page(
    request: Request, settings: Settings, *, error: str | None = None, status: int = 200
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or len(nonce) > 128:
        nonce = secrets.token_urlsafe(24)
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "error": error,
            "login_csrf": nonce,
            "oidc": _oidc_ready(request, settings) is not None,
            "issuer": settings.oidc_issuer,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    return response


def _end_previous(session: Session, request: Request) -> None:
    """A sign-in replaces the browser's earlier session (ended on the server, not left
    alive beside the new one)."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous and len(previous) <= 256:
        end_session_of_cookie(session, previous)


def _signed_in(request: Request, cookie_value: str, lifetime: int) -> Response:
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, cookie_value, max_age=lifetime)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, settings: SettingsDep) -> Response:
    return _login_page(request, settings)


@router.post("/login", response_class=HTMLResponse)
def login_with_token(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=_MAX_FIELD)] = "",
    login_csrf: Annotated[str, Form(max_length=_MAX_FIELD)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(login_csrf.encode(), expected.encode()):
        _audit(database, request, status=403, method="token", reason="login form CSRF")
        return _login_page(
            request,
            settings,
            status=403,
            error="This sign-in form has expired or came from another site: try again.",
        )
    with transaction(database) as session:
        found = find_live_token(session, token.strip()) if token.strip() else None
        if found is None:
            _audit(
                database,
                request,
                status=401,
                method="token",
                reason="unknown token",
                session=session,
            )
            failed = True
        else:
            failed = False
            user = session.get_one(User, found.user_id)
            _end_previous(session, request)
            opened = open_session(session, user, role=found.role, teams=found.teams, token=found)
            _audit(
                database,
                request,
                status=303,
                method="token",
                user=user,
                token_id=found.id,
                session_id=opened.session.id,
                session=session,
            )
            lifetime = int((opened.session.expires_at - opened.session.created_at).total_seconds())
    if failed:
        return _login_page(
            request,
            settings,
            status=401,
            error="That token is unknown, revoked or expired. Check it and try again.",
        )
    return _signed_in(request, opened.cookie_value, lifetime)


@router.get("/login/oidc")
def login_with_oidc(request: Request, settings: SettingsDep) -> Response:
    verifier = _oidc_ready(request, settings)
    if verifier is None:
        return _login_page(
            request,
            settings,
            status=404,
            error="Sign-in through an identity provider is not set up on this server "
            "(SHIPYARD_OIDC_ISSUER and SHIPYARD_OIDC_CLIENT_ID).",
        )
    try:
        endpoint = verifier.metadata().authorization_endpoint
    except OidcError as error:
        return _login_page(request, settings, status=502, error=str(error))
    if endpoint is None:
        return _login_page(
            request,
            settings,
            status=502,
            error=f"The issuer {verifier.issuer} names no authorization endpoint.",
        )
    flow = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(64),
        "redirect_uri": str(request.url_for("auth_callback")),
    }
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": flow["redirect_uri"],
            "scope": "openid profile email",
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": pkce_challenge(flow["verifier"]),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in endpoint else "?"
    response = RedirectResponse(f"{endpoint}{separator}{query}", status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        _signer(request).sign(_FLOW, flow, max_age=FLOW_MAX_AGE),
        max_age=FLOW_MAX_AGE,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",  # the issuer's redirect back is a top-level cross-site GET
        secure=is_https(request),
    )
    return response


@router.get(CALLBACK_PATH, name="auth_callback")
def auth_callback(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=_MAX_FIELD)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    flow = _signer(request).unsign(_FLOW, request.cookies.get(FLOW_COOKIE))
    verifier = _oidc_ready(request, settings)

    def refuse(reason: str, status: int = 401) -> Response:
        _audit(database, request, status=status, method="oidc", reason=reason)
        response = _login_page(request, settings, status=status, error=f"Sign-in failed: {reason}")
        response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
        return response

    if verifier is None or settings.oidc_client_id is None:
        return refuse("sign-in through an identity provider is not set up here", 404)
    if error is not None:
        return refuse(f"the identity provider answered {error[:64]!r}")
    if flow is None:
        return refuse("the sign-in took too long or began in another browser: try again", 400)
    if not state or not hmac.compare_digest(state.encode(), str(flow["state"]).encode()):
        return refuse("the answer does not belong to this browser's sign-in (state)", 400)
    if not code:
        return refuse("the identity provider sent no code", 400)
    try:
        tokens = verifier.exchange_code(
            code=code,
            redirect_uri=str(flow["redirect_uri"]),
            code_verifier=str(flow["verifier"]),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcTokenError("the token endpoint sent no ID token")
        identity = verifier.verify(
            id_token, audience=settings.oidc_client_id, nonce=str(flow["nonce"])
        )
    except OidcUnavailableError as failure:
        return refuse(str(failure), 502)
    except OidcError as failure:
        return refuse(str(failure))
    cookie_value, lifetime = _open_oidc_session(database, request, identity)
    response = _signed_in(request, cookie_value, lifetime)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
    return response


def _open_oidc_session(
    database: Engine, request: Request, identity: OidcIdentity
) -> tuple[str, int]:
    with transaction(database) as session:
        user = ensure_person(session, identity.subject, identity.name)
        _end_previous(session, request)
        opened = open_session(session, user, role=identity.role, teams=identity.teams)
        _audit(
            database,
            request,
            status=303,
            method="oidc",
            user=user,
            session_id=opened.session.id,
            session=session,
        )
        lifetime = int((opened.session.expires_at - opened.session.created_at).total_seconds())
        return opened.cookie_value, lifetime


@router.post("/logout")
def logout(
    request: Request, database: DatabaseDep, principal: Annotated[Principal, Depends(require_csrf)]
) -> Response:
    web_session = current_web_session(request)
    with transaction(database) as session:
        end_session(session, web_session.id)
        record_audit(
            session,
            "session.sign_out",
            "session",
            web_session.id,
            actor=principal.subject or principal.user_name,
            actor_user_id=principal.user_id,
            actor_token_id=principal.token_id,
            address=_address(request),
            result="ok",
            status_code=303,
            request_id=getattr(request.state, "request_id", None),
        )
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/account", response_class=HTMLResponse, name="account_page")
def account(
    request: Request, principal: Annotated[Principal, Depends(require_session)]
) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "account.html",
        {
            "principal": principal,
            "teams": sorted(principal.teams),
            "csrf_field": CSRF_FIELD,
            "csrf_token": current_web_session(request).csrf_token,
        },
    )
