"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shipyard.api.access import access
from shipyard.api.dependencies import DatabaseDep
from shipyard.api.schemas import Health
from shipyard.metrics import REGISTRY
from shipyard.store.enums import Role

__all__ = ["protected", "public"]

public = APIRouter(tags=["system"])
"""Routes without authentication: ``/healthz`` only."""

protected = APIRouter(tags=["system"])


@public.get("/healthz", **access("health.read", None))
def healthz(database: DatabaseDep) -> Health:
    """200 once the server has started and its database answers."""
    try:
        with database.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"the database does not answer: {exc}") from exc
    return Health()


@protected.get("/metrics", response_class=Response, **access("metrics.read", Role.viewer))
def metrics(request: Request) -> Response:
    """Prometheus metrics: API latency, job gauges from the database, deploy durations."""
    scraped: CollectorRegistry = request.app.state.metrics_registry
    body = generate_latest(REGISTRY) + generate_latest(scraped)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@protected.get("/openapi.json", include_in_schema=False, **access("openapi.read", Role.viewer))
def openapi(request: Request) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)
