"""Shipyard's REST API (FastAPI): components, deployments and their live events.

Build it with :func:`create_app`; ``shipyard serve`` runs it under uvicorn.
"""

from __future__ import annotations

from shipyard.api._events import EventStreamOptions
from shipyard.api.app import API_PREFIX, create_app
from shipyard.api.auth import CurrentPrincipal, Principal
from shipyard.api.bootstrap import ADMIN_TOKEN_FILE, Startup

__all__ = [
    "ADMIN_TOKEN_FILE",
    "API_PREFIX",
    "CurrentPrincipal",
    "EventStreamOptions",
    "Principal",
    "Startup",
    "create_app",
]
