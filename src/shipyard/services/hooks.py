"""Webhooks in: a tag pushed to a component's repository deploys it at once.

GitHub (``X-Hub-Signature-256``), GitLab (``X-Gitlab-Token``) and a generic sender
(Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) name a
repository and a tag. The repository finds the components (``github.com/project-slug`` or
``gitlab.com/project-slug`` equal to the event's ``full_name``/``path_with_namespace``, or
the component's source URL); the signature must verify with one of their secrets or the
installation's (``SHIPYARD_WEBHOOK_SECRET``). The tag is then read from each component's
own source, as the tag watcher reads it, never from the payload: an event can only make
Shipyard look sooner, not deploy a commit the repository does not have. A tag the poller
requested already (or a second event for it) is not requested again
(:class:`~shipyard.store.seen_tags.StoredSeenTags`, shared with the pollers of every host).

Refusals (:class:`HookRefusedError`) change nothing: a bad or missing signature (401), a
delivery id seen before or a timestamp outside five minutes (409 / 401), a body over
1 MiB (413), a payload that is not the event it claims (422).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shipyard._files import write_atomic
from shipyard.catalog import CatalogError
from shipyard.clock import utc_now
from shipyard.errors import ShipyardError
from shipyard.services.autodeploy import on_new_tag
from shipyard.services.desired import desired_state, platform_of
from shipyard.settings import Settings
from shipyard.sources import GitSources
from shipyard.store import transaction
from shipyard.store.components import walk_components
from shipyard.store.models import Component
from shipyard.store.seen_tags import StoredSeenTags
from shipyard.store.webhooks import (
    DELIVERY_ID_MAX,
    forget_delivery,
    prune_deliveries,
    record_delivery,
    sealed_secret_of,
    set_sealed_secret,
)
from shipyard.targets.local.trigger import BuildRequested, compile_tag_pattern

__all__ = [
    "DELIVERY_RETENTION",
    "MAX_BODY_BYTES",
    "WEBHOOK_KEY_FILE",
    "HookEvent",
    "HookOutcome",
    "HookRefusedError",
    "PayloadTooLargeError",
    "ReplayError",
    "SecretBox",
    "SignatureError",
    "TagRequest",
    "generic_event",
    "github_event",
    "gitlab_event",
    "handle_event",
    "new_secret",
    "repository_key",
    "set_component_secret",
    "verify_github",
    "verify_gitlab",
    "verify_standard",
]

MAX_BODY_BYTES = 1024 * 1024
"""A body longer than 1 MiB is refused (413) before the rest of it is read."""

WEBHOOK_KEY_FILE = "webhook-key"
_ZERO_SHA = "0" * 40
_SLUG = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_TAG_MAX = 255
_PAGE = 500
DELIVERY_RETENTION = timedelta(days=30)
"""How long a delivery id is kept to refuse its replay. Standard Webhooks senders sign a
timestamp (older than 5 minutes is refused anyway); GitHub and GitLab sign none, and a
replay older than this only makes Shipyard read the tags again: a tag is requested once
(``seen_tags``), so nothing is deployed twice."""

_log = structlog.get_logger(__name__)


# --- refusals ------------------------------------------------------------------------------


class HookRefusedError(ShipyardError):
    """A webhook refused: nothing changed. ``status`` and ``slug`` name the problem."""

    status = 400
    slug = "webhook"


class SignatureError(HookRefusedError):
    status = 401
    slug = "webhook-signature"


class ReplayError(HookRefusedError):
    status = 409
    slug = "webhook-replay"


class PayloadTooLargeError(HookRefusedError):
    status = 413
    slug = "payload-too-large"


class PayloadError(HookRefusedError):
    status = 422
    slug = "invalid-request"


# --- secrets -------------------------------------------------------------------------------


def new_secret() -> str:
    """A component's secret: a Standard Webhooks secret (``whsec_`` and 32 random bytes in
    base64), also usable as is as GitHub's secret or GitLab's token."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_<base64>`` decoded, as every
    Standard Webhooks library reads it; any other string is its own UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


class SecretBox:
    """Seals components' secrets for the database with a key kept beside it, in
    ``<data-dir>/webhook-key`` (0600, made on first use): a copy of the database alone
    (a backup, a dump) does not give them away. Fernet: AES-128-CBC and HMAC-SHA256."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / WEBHOOK_KEY_FILE
        self._fernet: Fernet | None = None

    def _box(self) -> Fernet:
        if self._fernet is None:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                write_atomic(self.path, Fernet.generate_key() + b"\n", exclusive=True)
            try:
                self._fernet = Fernet(self.path.read_bytes().strip())
            except (ValueError, binascii.Error) as exc:
                raise ShipyardError(
                    f"{self.path} holds no usable key; the components' webhook secrets "
                    "sealed with it are lost: set them again (shipyard webhook secret set)"
                ) from exc
        return self._fernet

    def seal(self, secret: str) -> str:
        return self._box().encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str | None:
        try:
            return self._box().decrypt(sealed.encode()).decode()
        except InvalidToken:
            _log.warning("webhook.secret_unreadable", key=str(self.path))
            return None


def set_component_secret(
    session: Session, box: SecretBox, component: Component, *, created_by_id: int | None
) -> str:
    """A new secret for ``component`` (replacing its old one); returned once, stored sealed."""
    secret = new_secret()
    set_sealed_secret(session, component.id, box.seal(secret), created_by_id=created_by_id)
    return secret


# --- the events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookEvent:
    """What a verified-to-be-parsed webhook says: where from, which repository (as keys
    :func:`repository_key` makes), which tag (``None``: nothing to do, e.g. a branch push)."""

    source: str
    delivery_id: str | None
    repository: str
    keys: frozenset[str]
    tag: str | None
    ping: bool = False
    note: str = ""


def repository_key(value: str, *, base: Path | None = None) -> str | None:
    """One spelling of a repository for every way of writing it: ``host/path`` in lower
    case without ``.git``, a user, a scheme or a ``/tree/...`` suffix
    (``https://github.com/Acme/Shop.git``, ``git@github.com:acme/shop``,
    ``url:https://github.com/acme/shop/tree/main/`` are all ``github.com/acme/shop``); a
    local path is ``path:`` and the folder it resolves to (relative to ``base``)."""
    text = value.strip().removeprefix("url:")
    if not text or len(text) > 2048 or any(ord(char) < 32 for char in text):
        return None
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme == "file":
            return _path_key(parts.path, base)
        host, path = parts.hostname or "", parts.path
    elif (scp := re.match(r"^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!/)(.+)$", text)) is not None:
        host, path = scp.group(1), scp.group(2)
    else:
        return _path_key(text, base)
    for marker in ("/-/tree/", "/-/blob/", "/tree/", "/blob/", "/src/"):
        path = path.split(marker, 1)[0]
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path:
        return None
    return f"{host.lower()}/{path.lower()}"


def _path_key(text: str, base: Path | None) -> str | None:
    path = Path(text).expanduser()
    if not path.is_absolute():
        if base is None:
            return None
        path = base / path
    return "path:" + os.path.realpath(path)


def _slug_keys(kind: str, slug: object) -> set[str]:
    if not isinstance(slug, str) or not _SLUG.match(slug.strip()):
        return set()
    return {f"{kind}-slug:{slug.strip().lower()}"}


def _url_keys(values: Iterable[object]) -> set[str]:
    found = set()
    for value in values:
        if isinstance(value, str) and (key := repository_key(value)) is not None:
            found.add(key)
    return found


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = data.get(key)
    return found if isinstance(found, Mapping) else {}


def _tag(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _TAG_MAX:
        raise PayloadError(f"{where} is not a tag name (a string of 1 to {_TAG_MAX} characters)")
    if any(ord(char) < 33 for char in value) or value.startswith("-"):
        raise PayloadError(f"{where} {value[:80]!r} is not a valid git tag name")
    return value


def _delivery(value: str | None, header: str) -> str:
    if not value or len(value) > DELIVERY_ID_MAX:
        raise PayloadError(
            f"the {header} header is missing or longer than {DELIVERY_ID_MAX} characters: "
            "every delivery needs its id (replays are refused by it)"
        )
    return value


def github_event(event: str | None, delivery: str | None, data: Any) -> HookEvent:
    """A GitHub ``push`` of a tag, a ``create`` of a tag, or a ``ping``; other events
    and branch pushes carry no tag."""
    delivery_id = _delivery(delivery, "X-GitHub-Delivery")
    if not isinstance(data, Mapping):
        raise PayloadError("the GitHub payload is not a JSON object")
    repository = _object(data, "repository")
    name = repository.get("full_name")
    keys = _slug_keys("github", name) | _url_keys(
        repository.get(key) for key in ("clone_url", "ssh_url", "git_url", "html_url", "url")
    )
    shown = str(name)[:255] if isinstance(name, str) else ""
    if event == "ping":
        return HookEvent("github", delivery_id, shown, frozenset(keys), None, ping=True)
    tag: str | None = None
    note = f"event {str(event)[:40]!r} carries no tag"
    if event == "push":
        ref = data.get("ref")
        if isinstance(ref, str) and ref.startswith("refs/tags/"):
            if data.get("deleted") is True:
                note = "a deleted tag"
            else:
                tag = _tag(ref.removeprefix("refs/tags/"), "ref")
        else:
            note = "a push of a branch, not a tag"
    elif event == "create":
        if data.get("ref_type") == "tag":
            tag = _tag(data.get("ref"), "ref")
        else:
            note = "a created branch, not a tag"
    if not keys:
        raise PayloadError("the GitHub payload names no repository (repository.full_name)")
    return HookEvent("github", delivery_id, shown, frozenset(keys), tag, note=note)


def gitlab_event(event: str | None, delivery: str | None, data: Any) -> HookEvent:
    """A GitLab tag push (``Tag Push Hook``, ``object_kind: tag_push``)."""
    delivery_id = _delivery(delivery, "Idempotency-Key (or X-Gitlab-Event-UUID)")
    if not isinstance(data, Mapping):
        raise PayloadError("the GitLab payload is not a JSON object")
    project = _object(data, "project")
    name = project.get("path_with_namespace")
    keys = _slug_keys("gitlab", name) | _url_keys(
        [
            *(project.get(key) for key in ("git_http_url", "git_ssh_url", "web_url", "http_url")),
            *(_object(data, "repository").get(key) for key in ("git_http_url", "git_ssh_url")),
        ]
    )
    if not keys:
        raise PayloadError("the GitLab payload names no project (project.path_with_namespace)")
    shown = str(name)[:255] if isinstance(name, str) else ""
    tag: str | None = None
    note = f"event {str(event)[:40]!r} is not a tag push"
    if data.get("object_kind") == "tag_push":
        ref = data.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/tags/"):
            raise PayloadError("a tag push whose ref is not refs/tags/<tag>")
        if data.get("after") == _ZERO_SHA:
            note = "a deleted tag"
        else:
            tag = _tag(ref.removeprefix("refs/tags/"), "ref")
    return HookEvent("gitlab", delivery_id, shown, frozenset(keys), tag, note=note)


def generic_event(source: str, delivery_id: str, data: Any) -> HookEvent:
    """``{"repository": "<slug or URL or path>", "tag": "<tag>"}``."""
    if not isinstance(data, Mapping) or set(data) - {"repository", "tag"}:
        raise PayloadError(
            'the body must be a JSON object {"repository": ..., "tag": ...} and nothing else'
        )
    repository = data.get("repository")
    if not isinstance(repository, str) or not repository.strip() or len(repository) > 2048:
        raise PayloadError("repository must be a repository URL, a path or an owner/name slug")
    keys = _slug_keys("github", repository) | _slug_keys("gitlab", repository)
    keys |= _url_keys([repository])
    tag = _tag(data.get("tag"), "tag")
    return HookEvent(source, delivery_id, repository[:255], frozenset(keys), tag)


# --- signatures ------------------------------------------------------------------------------


def verify_github(body: bytes, header: str | None, candidates: Sequence[str]) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").encode()
    matched = False
    for secret in candidates:  # every candidate is tried: the time says nothing of which
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


def verify_gitlab(header: str | None, candidates: Sequence[str]) -> bool:
    if not header:
        return False
    matched = False
    for secret in candidates:
        matched |= hmac.compare_digest(secret.encode(), header.encode())
    return matched


def verify_standard(body: bytes, headers: Mapping[str, str], candidates: Sequence[str]) -> bool:
    """Standard Webhooks: the signature over id, timestamp and body, with one of
    ``candidates``, and a timestamp within five minutes; raises :class:`SignatureError`."""
    wanted = {
        key: headers[key]
        for key in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if key in headers
    }
    reason = "no secret is configured that could verify it"
    for secret in candidates:
        try:
            Webhook(standard_key(secret)).verify(body, wanted, json_parse=False)
            return True
        except (WebhookVerificationError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
            reason = str(exc) or type(exc).__name__
    raise SignatureError(
        f"the Standard Webhooks signature was refused ({reason}): sign the webhook-id, "
        "webhook-timestamp (within 5 minutes of now) and body with the component's or the "
        "installation's secret"
    )


# --- finding components and requesting their tag -------------------------------------------


def _annotations(component: Component) -> Mapping[str, Any]:
    metadata = component.descriptor.get("metadata")
    found = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def component_keys(component: Component) -> set[str]:
    """The keys an event may name this component's repository by."""
    annotations = _annotations(component)
    keys = _slug_keys("github", annotations.get("github.com/project-slug"))
    keys |= _slug_keys("gitlab", annotations.get("gitlab.com/project-slug"))
    base = Path(component.source) if component.source and component.source.startswith("/") else None
    for value in (
        annotations.get("shipyard.dev/source"),
        annotations.get("backstage.io/source-location"),
        component.source,
    ):
        if isinstance(value, str) and (key := repository_key(value, base=base)) is not None:
            keys.add(key)
    return keys


def matching_components(session: Session, keys: frozenset[str]) -> list[Component]:
    return [c for c in walk_components(session, page_size=_PAGE) if component_keys(c) & keys]


@dataclass(frozen=True, slots=True)
class TagRequest:
    """What became of the tag for one component."""

    component: str
    status: str
    """``queued``, ``already-requested``, ``not-in-source``, ``not-matching``, ``unresolvable``."""
    deployments: list[int] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "status": self.status,
            "deployments": self.deployments,
            "detail": self.detail,
        }


def _watched(settings: Settings, component: Component) -> tuple[str, str]:
    """The source and tag pattern the tag watcher polls for ``component`` (its first local
    environment's; else its first environment's)."""
    platform = platform_of(settings)
    local = [env.name for env in platform.environments if env.target == "local"]
    names = local or [env.name for env in platform.environments]
    if not names:
        raise PayloadError("the platform defines no environment to deploy to")
    desired = desired_state(component, names[0], platform)
    if desired.source is None:
        raise PayloadError(f"{component.ref} names no source (shipyard.dev/source)")
    source = desired.source.url or desired.source.path or desired.source.spec
    return source, desired.tag_pattern


def request_tag(settings: Settings, database: Engine, component: Component, tag: str) -> TagRequest:
    """Read ``tag`` from the component's own source, as the poller does; request it once."""
    ref = component.ref
    try:
        source, pattern = _watched(settings, component)
        if compile_tag_pattern(ref, pattern).search(tag) is None:
            return TagRequest(ref, "not-matching", detail=f"the tag pattern is {pattern!r}")
        sources = GitSources.from_settings(settings)
        checked = sources.checked(source)
        tags = sources.ls_remote_tags(checked)
    except (CatalogError, HookRefusedError) as exc:
        return TagRequest(ref, "unresolvable", detail=str(exc))
    commit = tags.get(tag)
    if commit is None:
        return TagRequest(ref, "not-in-source", detail=f"{checked} has no tag {tag!r} (yet)")
    seen = StoredSeenTags(database)
    if not seen.add(ref, tag, commit):
        return TagRequest(ref, "already-requested", detail="by the poller or an earlier event")
    try:
        ids = on_new_tag(database, BuildRequested(ref, checked, tag, commit))
    except BaseException:
        seen.discard(ref, tag)
        raise
    _log.info("webhook.tag_requested", component=ref, tag=tag, commit=commit, deployments=ids)
    return TagRequest(ref, "queued", deployments=ids)


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """The answer to a verified event: 200 for a ping, else 202."""

    status: int
    body: dict[str, Any]


Verifier = Callable[[Sequence[str]], bool]
"""Whether the request's signature verifies with one of the candidate secrets (or raises
:class:`SignatureError` saying why not)."""


def handle_event(
    settings: Settings,
    database: Engine,
    box: SecretBox,
    event: HookEvent,
    verify: Verifier,
) -> HookOutcome:
    """Verify ``event`` against the secrets of the components it names (and the
    installation's), refuse a replay, then request its tag for each of them."""
    with transaction(database, read_only=True) as session:
        components = matching_components(session, event.keys)
        candidates = [
            secret
            for component in components
            if (sealed := sealed_secret_of(session, component.id)) is not None
            and (secret := box.unseal(sealed)) is not None
        ]
        session.expunge_all()
    if settings.webhook_secret:
        candidates.append(settings.webhook_secret)
    if not candidates or not verify(candidates):
        raise SignatureError(
            f"the {event.source} webhook's signature is missing or does not verify with the "
            "secret of a component of that repository, nor with the installation's: set the "
            "same secret in the sender as in Shipyard (shipyard webhook secret set COMPONENT)"
        )
    if event.delivery_id is not None:
        with transaction(database) as session:
            fresh = record_delivery(session, event.source, event.delivery_id)
            if fresh:
                prune_deliveries(session, utc_now() - DELIVERY_RETENTION)
        if not fresh:
            raise ReplayError(
                f"delivery {event.delivery_id[:80]!r} was received before: a replay is refused "
                "(a sender's retry of a delivery that was answered 2xx is not needed)"
            )
    try:
        return _act(settings, database, event, components)
    except BaseException:
        if event.delivery_id is not None:
            with transaction(database) as session:
                forget_delivery(session, event.source, event.delivery_id)
        raise


def _act(
    settings: Settings, database: Engine, event: HookEvent, components: list[Component]
) -> HookOutcome:
    base: dict[str, Any] = {"repository": event.repository, "tag": event.tag}
    if event.ping:
        return HookOutcome(200, {**base, "status": "pong", "components": _refs(components)})
    if not components:
        return HookOutcome(
            202, {**base, "status": "ignored", "detail": "no component has this repository"}
        )
    if event.tag is None:
        return HookOutcome(202, {**base, "status": "ignored", "detail": event.note})
    results = [request_tag(settings, database, component, event.tag) for component in components]
    return HookOutcome(
        202, {**base, "status": "accepted", "components": [r.as_dict() for r in results]}
    )


def _refs(components: Sequence[Component]) -> list[str]:
    return [component.ref for component in components]
