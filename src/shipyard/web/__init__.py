"""The Web UI's server side: sign-in (API token or OIDC), the cookie session, CSRF.

Pages depend on :func:`require_session` (the signed-in principal, ``method="session"``)
and their state-changing forms on :func:`require_csrf`; :func:`install_web` mounts the
sign-in pages on the app.
"""

from __future__ import annotations

from shipyard.web.routes import install_web
from shipyard.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentSession,
    require_csrf,
    require_session,
)

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentSession",
    "install_web",
    "require_csrf",
    "require_session",
]
