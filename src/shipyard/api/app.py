"""The API's application factory: nothing happens at import, everything in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry

from shipyard.api._events import EventStreamOptions
from shipyard.api._jobs_collector import JobsCollector
from shipyard.api._middleware import RequestContextMiddleware
from shipyard.api.access import route_rule
from shipyard.api.auth import require_principal
from shipyard.api.bootstrap import Startup, bootstrap
from shipyard.api.dependencies import AppState
from shipyard.api.problems import install_problem_handlers
from shipyard.api.routes import (
    audit,
    components,
    deployments,
    history,
    hooks,
    operations,
    subscriptions,
    system,
    tokens,
)
from shipyard.settings import Settings
from shipyard.store import open_database

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def _api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_principal)])
    api.include_router(components.router)
    api.include_router(deployments.router)
    api.include_router(operations.router)
    api.include_router(history.router)
    api.include_router(tokens.router)
    api.include_router(subscriptions.router)
    api.include_router(audit.router)
    return api


def _check_access_rules(app: FastAPI) -> None:
    """Every API route declares who may call it (:func:`shipyard.api.access.access`)."""
    missing = sorted(
        f"{sorted(context.methods or ())} {context.path_format}"
        for context in iter_route_contexts(app.routes)  # included routers' routes too
        if isinstance(context.original_route, APIRoute)
        and (context.path_format or "").startswith(API_PREFIX)
        and route_rule(context.original_route) is None
    )
    if missing:
        raise RuntimeError(f"API routes without an access rule: {', '.join(missing)}")


def create_app(
    settings: Settings,
    *,
    on_startup: Callable[[Startup], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    event_stream: EventStreamOptions | None = None,
) -> FastAPI:
    """The Shipyard API. Its lifespan opens the database, migrates it, syncs the platform's
    environments and writes the admin token on first start, then calls ``on_startup``;
    ``on_shutdown`` runs when the server stops gracefully (uvicorn re-raises SIGTERM after
    its shutdown, so code after ``server.run()`` may never run)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings)
        try:
            startup = bootstrap(settings, database)
            app.state.shipyard = AppState(
                settings=settings,
                database=database,
                platform=startup.platform,
                event_stream=event_stream or EventStreamOptions(),
            )
            registry = CollectorRegistry(auto_describe=True)
            registry.register(JobsCollector(database))
            app.state.metrics_registry = registry
            if on_startup is not None:
                on_startup(startup)
            yield
        finally:
            try:
                if on_shutdown is not None:
                    on_shutdown()
            finally:
                database.dispose()

    app = FastAPI(
        title="Shipyard",
        summary="A self-hosted platform orchestrator.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # served by system.protected, behind authentication
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(system.public)
    app.include_router(system.protected, dependencies=[Depends(require_principal)])
    app.include_router(_api_router())
    app.include_router(hooks.router)  # signed by the sender, not bearer: see access.py
    from shipyard.web import install_web  # the pages import the API's auth: here, not above
    from shipyard.web.pages import install_pages

    install_pages(app)  # first: its components page is "/"
    install_web(app, settings)
    _check_access_rules(app)
    return app
