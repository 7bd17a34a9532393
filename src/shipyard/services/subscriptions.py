"""Webhook subscriptions: a URL told of deployment and build events, and who may be one.

A subscription's URL is hostile input: http(s) only, no credentials in it, and no address
outside the public internet (loopback, private, link-local such as the 169.254.169.254
metadata service, ...) unless ``SHIPYARD_DELIVERY_ALLOWED_NETWORKS`` lists it. A URL
naming an address is checked when the subscription is created; a host name is checked
each time a delivery is sent, against every address it resolves to, and the delivery
connects to the address that was checked (:func:`resolve_receiver`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from shipyard.errors import ShipyardError
from shipyard.services.errors import InvalidRequestError
from shipyard.store import models
from shipyard.store.audit import record_audit
from shipyard.store.components import find_component
from shipyard.store.environments import get_environment
from shipyard.store.errors import NotFoundError
from shipyard.store.subscriptions import (
    EVENT_TYPES,
    create_subscription,
    delete_subscription,
)

__all__ = [
    "MAX_URL_LENGTH",
    "Network",
    "Receiver",
    "ReceiverRefusedError",
    "check_address",
    "check_url",
    "remove_subscription",
    "resolve_receiver",
    "subscribe",
]

MAX_URL_LENGTH = 2048
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_NAMES = ("localhost", "metadata", "metadata.google.internal")
_ALLOW_HINT = (
    "point it at a public address, or list the network in SHIPYARD_DELIVERY_ALLOWED_NETWORKS "
    "on the server (a JSON list of CIDRs, e.g. '[\"10.20.0.0/16\"]')"
)


class ReceiverRefusedError(ShipyardError):
    """A receiver's address is not one deliveries may go to."""


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_address(address: Address, allowed: Sequence[Network], where: str) -> None:
    """Refuse an address that is not public, unless an allowed network holds it."""
    if _public(address) or any(address in network for network in allowed):
        return
    raise ReceiverRefusedError(
        f"{where} is {address}, which is not a public address (loopback, private, "
        f"link-local or reserved): {_ALLOW_HINT}"
    )


@dataclass(frozen=True, slots=True)
class _Parts:
    scheme: str
    host: str
    port: int


def _parts(url: str) -> _Parts:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequestError(f"url is {len(url)} characters long: at most {MAX_URL_LENGTH}")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise InvalidRequestError("url holds a space or a control character: encode it (%20)")
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise InvalidRequestError(f"url {url!r} is not a URL: {exc}") from exc
    scheme = split.scheme.lower()
    if scheme not in {"http", "https"}:
        raise InvalidRequestError(
            f"url {url!r}: the scheme must be https or http, not {split.scheme or 'none'!r}"
        )
    if split.username is not None or split.password is not None or "@" in split.netloc:
        raise InvalidRequestError(
            "url holds credentials (user:password@): leave them out; deliveries are signed "
            "(webhook-signature), so the receiver verifies them with the subscription's secret"
        )
    if split.fragment:
        raise InvalidRequestError(f"url {url!r} has a fragment (#...): leave it out")
    host = (split.hostname or "").rstrip(".")
    if not host:
        raise InvalidRequestError(f"url {url!r} names no host: give https://host/path")
    return _Parts(scheme, host, port or (443 if scheme == "https" else 80))


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allowed: Sequence[Network]) -> str:
    """The URL, if a subscription may have it; a 422 error saying why not otherwise."""
    parts = _parts(url)
    host = parts.host.lower()
    address = _literal(host)
    try:
        if address is not None:
            check_address(address, allowed, f"url {url!r}'s host")
        elif host in _LOCAL_NAMES or host.endswith(".localhost"):
            loopback = ipaddress.ip_address("127.0.0.1")
            if not any(loopback in network for network in allowed):
                raise ReceiverRefusedError(
                    f"url {url!r} names {host}, a local or metadata host: {_ALLOW_HINT}"
                )
    except ReceiverRefusedError as exc:
        raise InvalidRequestError(str(exc)) from exc
    return url


@dataclass(frozen=True, slots=True)
class Receiver:
    """Where a delivery connects: ``address`` (checked), for the URL's ``host``."""

    scheme: str
    host: str
    port: int
    address: Address


def resolve_receiver(url: str, allowed: Sequence[Network]) -> Receiver:
    """The address a delivery to ``url`` connects to, once every address its host
    resolves to is one deliveries may go to; :class:`ReceiverRefusedError` otherwise
    (or when the host does not resolve)."""
    try:
        parts = _parts(url)
    except InvalidRequestError as exc:
        raise ReceiverRefusedError(str(exc)) from exc
    literal = _literal(parts.host)
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            found = socket.getaddrinfo(parts.host, parts.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ReceiverRefusedError(f"host {parts.host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
        if not addresses:
            raise ReceiverRefusedError(f"host {parts.host} resolves to no address")
    for address in addresses:
        check_address(address, allowed, f"host {parts.host}'s address")
    return Receiver(parts.scheme, parts.host, parts.port, addresses[0])


# --- the use cases -------------------------------------------------------------------------


def _component_ref(session: Session, component: str) -> str:
    namespace, _, name = component.rpartition("/")
    namespace = namespace or "default"
    if find_component(session, namespace, name) is None:
        raise InvalidRequestError(
            f"component {namespace}/{name} is not registered: register it first, or leave "
            "'component' out to hear of every component"
        )
    return f"{namespace}/{name}"


def _environment(session: Session, environment: str) -> str:
    try:
        return get_environment(session, environment).name
    except NotFoundError as exc:
        raise InvalidRequestError(
            f"environment {environment!r} is not in the platform file: name one of its "
            "environments, or leave 'environment' out to hear of every one"
        ) from exc


def _origin(url: str) -> str:
    """The URL's scheme, host and port only, for the audit log: a receiver's path or
    query may hold its own secret (chat webhooks do)."""
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}"


def subscribe(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    component: str | None,
    environment: str | None,
    allowed: Sequence[Network],
    created_by_id: int | None,
) -> models.Subscription:
    """A new subscription (its secret is generated; show it once), audited."""
    check_url(url, allowed)
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidRequestError(
            f"events {', '.join(unknown) or '(none)'}: give one or more of {', '.join(EVENT_TYPES)}"
        )
    subscription = create_subscription(
        session,
        url=url,
        events=[event for event in EVENT_TYPES if event in events],
        component=_component_ref(session, component) if component is not None else None,
        environment=_environment(session, environment) if environment is not None else None,
        created_by_id=created_by_id,
    )
    record_audit(
        session,
        "subscription.create",
        "subscription",
        subscription.id,
        component=subscription.component,
        data={
            "url": _origin(subscription.url),
            "events": subscription.events,
            "component": subscription.component,
            "environment": subscription.environment,
        },
    )
    return subscription


def remove_subscription(session: Session, subscription_id: int) -> models.Subscription:
    """Delete a subscription (audited); its pending deliveries are cancelled."""
    subscription = delete_subscription(session, subscription_id)
    record_audit(
        session,
        "subscription.delete",
        "subscription",
        subscription.id,
        component=subscription.component,
        data={"url": _origin(subscription.url)},
    )
    return subscription
