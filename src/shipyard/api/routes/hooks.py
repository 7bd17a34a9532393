"""``/api/v1/hooks/*``: webhooks in, authenticated by their signature (never a bearer);
and ``PUT /api/v1/components/{ns}/{name}/webhook-secret``, a component's own secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from shipyard.api.access import access
from shipyard.api.auth import CurrentPrincipal
from shipyard.api.dependencies import DatabaseDep, SettingsDep
from shipyard.api.problems import problem_response
from shipyard.services import catalog_sync, cloud_build
from shipyard.services import hooks as service
from shipyard.services.hooks import MAX_BODY_BYTES, HookEvent, HookRefusedError, PayloadError
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.audit import current_audit
from shipyard.store.components import get_component_by_ref
from shipyard.store.enums import Role

__all__ = ["router"]

router = APIRouter(tags=["hooks"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "the signature is missing or wrong (or, Standard Webhooks: stale)"},
    409: {"description": "a delivery id seen before: a replay"},
    413: {"description": "a body over 1 MiB"},
    422: {"description": "the payload is not the event it claims"},
}


async def _body(request: Request) -> bytes:
    """The body, refused (413) as soon as it is over :data:`MAX_BODY_BYTES`: a declared
    length over it is refused unread, a longer stream is cut where it passes the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise service.PayloadTooLargeError(
            f"the body is {int(declared)} bytes; a webhook may send at most {MAX_BODY_BYTES} "
            "(1 MiB)"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise service.PayloadTooLargeError(
                f"the body is over {MAX_BODY_BYTES} bytes (1 MiB), the most a webhook may send"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from exc


def _refused(request: Request, exc: HookRefusedError) -> Response:
    return problem_response(
        request.url.path,
        exc.status,
        str(exc),
        type_=f"urn:shipyard:problem:{exc.slug}",
        title=exc.slug.replace("-", " ").capitalize(),
        request_id=getattr(request.state, "request_id", None),
    )


def _as(source: str) -> None:
    context = current_audit()
    if context is not None:
        context.actor = f"webhook:{source}"


async def _handle(
    request: Request,
    settings: Settings,
    database: DatabaseDep,
    parse: Callable[[bytes], HookEvent],
    verify: Callable[[bytes], service.Verifier],
    *,
    signature: str,
) -> Response:
    try:
        if not request.headers.get(signature):
            raise service.SignatureError(
                f"the {signature} header is missing: this route takes signed webhooks only, "
                "not a bearer token; configure the sender with the component's secret "
                "(shipyard webhook secret set COMPONENT) or the installation's "
                "(SHIPYARD_WEBHOOK_SECRET)"
            )
        body = await _body(request)
        event = parse(body)
        _as(event.source)
        outcome = await anyio.to_thread.run_sync(
            service.handle_event,
            settings,
            database,
            service.SecretBox(settings.data_dir),
            event,
            verify(body),
        )
    except HookRefusedError as exc:
        return _refused(request, exc)
    return JSONResponse(outcome.body, status_code=outcome.status)


def _standard_headers(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.headers.items() if key.startswith("webhook-")}


@router.post(
    "/api/v1/hooks/github",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"description": "a ping, answered"}, **_REFUSED},
    **access("webhook.github", None, signed=True),
)
async def github_hook(request: Request, settings: SettingsDep, database: DatabaseDep) -> Response:
    """A GitHub webhook (content type ``application/json``; events ``push`` and
    ``create``): a tag pushed deploys it to every autoDeploy environment. Signed with
    ``X-Hub-Signature-256``; ``ping`` is answered 200."""
    headers = request.headers
    return await _handle(
        request,
        settings,
        database,
        lambda body: service.github_event(
            headers.get("x-github-event"), headers.get("x-github-delivery"), _json(body)
        ),
        lambda body: (
            lambda candidates: service.verify_github(
                body, headers.get("x-hub-signature-256"), candidates
            )
        ),
        signature="X-Hub-Signature-256",
    )


@router.post(
    "/api/v1/hooks/gitlab",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_REFUSED,
    **access("webhook.gitlab", None, signed=True),
)
async def gitlab_hook(request: Request, settings: SettingsDep, database: DatabaseDep) -> Response:
    """A GitLab webhook (``Tag push events``): the tag deploys to every autoDeploy
    environment. Authenticated by ``X-Gitlab-Token``."""
    headers = request.headers
    delivery = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
    return await _handle(
        request,
        settings,
        database,
        lambda body: service.gitlab_event(headers.get("x-gitlab-event"), delivery, _json(body)),
        lambda _body: (
            lambda candidates: service.verify_gitlab(headers.get("x-gitlab-token"), candidates)
        ),
        signature="X-Gitlab-Token",
    )


def _standard_verify(request: Request) -> Callable[[bytes], service.Verifier]:
    headers = _standard_headers(request)
    return lambda body: lambda candidates: service.verify_standard(body, headers, candidates)


def _webhook_id(request: Request) -> str:
    value = request.headers.get("webhook-id")
    if not value or len(value) > 255:
        raise service.SignatureError(
            "the webhook-id header is missing or too long: sign with Standard Webhooks "
            "(webhook-id, webhook-timestamp, webhook-signature)"
        )
    return value


@router.post(
    "/api/v1/hooks/generic",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_REFUSED,
    **access("webhook.generic", None, signed=True),
)
async def generic_hook(request: Request, settings: SettingsDep, database: DatabaseDep) -> Response:
    """``{"repository": "<URL, path or owner/name>", "tag": "<tag>"}``, signed as Standard
    Webhooks (HMAC-SHA256 over ``webhook-id.webhook-timestamp.body``)."""
    try:
        delivery = _webhook_id(request)
    except HookRefusedError as exc:
        return _refused(request, exc)
    return await _handle(
        request,
        settings,
        database,
        lambda body: service.generic_event("generic", delivery, _json(body)),
        _standard_verify(request),
        signature="webhook-signature",
    )


@router.post(
    "/api/v1/hooks/backstage",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"description": "the entity was synced"}, **_REFUSED},
    **access("webhook.backstage", None, signed=True),
)
async def backstage_hook(
    request: Request, settings: SettingsDep, database: DatabaseDep
) -> Response:
    """``{"entityRef": "component:<namespace>/<name>"}`` from a Backstage catalog
    processor or events module, signed as Standard Webhooks with the installation's
    secret: that entity is read again from ``SHIPYARD_BACKSTAGE_URL`` and synced now
    (registered, updated, or marked orphaned when the catalog no longer has it)."""
    try:
        delivery = _webhook_id(request)
        body = await _body(request)
        ref = catalog_sync.entity_ref(_json(body))
        _as("backstage")
        candidates = [settings.webhook_secret] if settings.webhook_secret else []
        if not candidates:
            raise service.SignatureError(
                "SHIPYARD_WEBHOOK_SECRET is not set, so no Backstage webhook can be verified"
            )
        service.verify_standard(body, _standard_headers(request), candidates)
        outcome = await anyio.to_thread.run_sync(
            catalog_sync.sync_entity_hook, settings, database, delivery, ref
        )
    except HookRefusedError as exc:
        return _refused(request, exc)
    return JSONResponse(outcome, status_code=200)


@router.post(
    "/api/v1/hooks/cloudbuild",
    responses={**_REFUSED, 200: {"description": "recorded (or a redelivery, recorded before)"}},
    **access("webhook.cloudbuild", None, signed=True),
)
async def cloud_build_hook(
    request: Request, settings: SettingsDep, database: DatabaseDep
) -> Response:
    """A Pub/Sub push of the ``cloud-builds`` topic (the gcp target's builds), to
    ``/api/v1/hooks/cloudbuild?token=<SHIPYARD_WEBHOOK_SECRET>``: the build's status is
    recorded, and a deploy following that build learns of its end at once. Pub/Sub signs
    nothing in the body: the token in the URL is the shared secret (a redelivered message
    is answered 200 and recorded once)."""
    try:
        given = request.query_params.get("token")
        expected = settings.webhook_secret
        if not given or not expected or not service.verify_gitlab(given, [expected]):
            raise service.SignatureError(
                "the push's token is missing or wrong: the push subscription's endpoint is "
                "/api/v1/hooks/cloudbuild?token=<SHIPYARD_WEBHOOK_SECRET>"
            )
        _as("cloudbuild")
        push = cloud_build.parse_push(_json(await _body(request)))
        fresh = await anyio.to_thread.run_sync(cloud_build.record_push, database, push)
    except HookRefusedError as exc:
        return _refused(request, exc)
    return JSONResponse(
        {
            "build": push.build_id,
            "status": push.status,
            "finished": push.finished,
            "recorded": "new" if fresh else "before",
        }
    )


class WebhookSecretRead(BaseModel):
    component: str
    secret: str
    """Shown this once; stored sealed."""


@router.put(
    "/api/v1/components/{namespace}/{name}/webhook-secret",
    **access("webhook.secret.set", Role.deployer, owned_by="component"),
)
def set_webhook_secret(
    namespace: str,
    name: str,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    database: DatabaseDep,
) -> WebhookSecretRead:
    """A new webhook secret for the component (the old one stops working), shown once:
    give it to GitHub (Secret), GitLab (Secret token) or a Standard Webhooks sender."""
    box = service.SecretBox(settings.data_dir)
    with transaction(database) as session:
        component = get_component_by_ref(session, namespace, name)
        secret = service.set_component_secret(
            session, box, component, created_by_id=principal.user_id
        )
        return WebhookSecretRead(component=component.ref, secret=secret)
