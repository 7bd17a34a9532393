"""Errors as ``application/problem+json`` (RFC 9457), mapped in one place.

Shipyard's domain errors (:class:`~shipyard.errors.ShipyardError` and its subclasses)
get a status from :data:`STATUS_BY_ERROR` (the most specific class wins) and a ``type``
of ``urn:shipyard:problem:<slug>``; plain HTTP errors (401, 404 of an unknown route,
405) keep ``type: about:blank``. Every problem names the request path as ``instance``
and carries the ``request_id``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shipyard.api.access import AccessDeniedError
from shipyard.catalog import CatalogError
from shipyard.catalog.backstage import BackstageError
from shipyard.errors import ShipyardError
from shipyard.jobs.errors import JobError
from shipyard.services.errors import InvalidRequestError
from shipyard.store.errors import AlreadyExistsError, MigrationError, NotFoundError

__all__ = [
    "PROBLEM_JSON",
    "STATUS_BY_ERROR",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[ShipyardError], int] = {
    ShipyardError: 400,
    AccessDeniedError: 403,
    NotFoundError: 404,
    AlreadyExistsError: 409,
    JobError: 409,
    CatalogError: 422,
    InvalidRequestError: 422,
    MigrationError: 503,
    BackstageError: 502,
}

_HTTP_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def problem_response(
    request_path: str,
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _HTTP_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request_path,
        "request_id": request_id,
        **extensions,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _status_of(error: ShipyardError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _slug(cls: type[BaseException]) -> str:
    name = cls.__name__.removesuffix("Error") or cls.__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _title(cls: type[BaseException]) -> str:
    return _slug(cls).replace("-", " ").capitalize()


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    extensions: dict[str, Any] = {}
    if isinstance(exc, CatalogError):
        extensions["problems"] = [problem.as_dict() for problem in exc.problems]
    if isinstance(exc, AccessDeniedError):
        extensions.update(exc.extensions())
    return problem_response(
        request.url.path,
        _status_of(exc),
        str(exc),
        type_=f"urn:shipyard:problem:{_slug(type(exc))}",
        title=_title(type(exc)),
        request_id=_request_id(request),
        **extensions,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem_response(
        request.url.path,
        exc.status_code,
        str(exc.detail),
        request_id=_request_id(request),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_response(
        request.url.path,
        422,
        f"the request is invalid: {fields}",
        type_="urn:shipyard:problem:invalid-request",
        title="Invalid request",
        request_id=_request_id(request),
        errors=errors,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error a route may raise to problem+json; unexpected ones are handled by
    the request-context middleware, the outermost edge."""
    app.add_exception_handler(ShipyardError, _domain_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
