"""Shipyard's routes as Caddy JSON config (pure functions, unit-tested).

Routes are grouped into one Caddy server per listen port, named
``shipyard_<instance>_<port>`` (``instance``: the Shipyard's id, so two Shipyards loading
their routes into one Caddy keep each other's); servers not named with this Shipyard's
prefix belong to someone else and are kept as they are, except a server named as before
instance ids (``shipyard_<port>``) on a port one of these routes listens on, which would
keep Caddy from taking the config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["SERVER_PREFIX", "Route", "caddy_config", "route_id", "server_prefix"]

SERVER_PREFIX = "shipyard_"
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")
_LEGACY_SERVER = re.compile(r"^shipyard_[0-9]+$")
_DIAL_RETRY = "5s"
"""How long Caddy retries a refused upstream dial (covers a switch's last moment)."""
_CLOSE_CONNECTION = {"handler": "headers", "response": {"set": {"Connection": ["close"]}}}
"""Every answer closes its client connection. Caddy applies any config change (a switch
included) by a graceful reload that closes idle keep-alive connections; a client that
sends its next request on one at that instant would see a reset. Without keep-alive
there is no idle connection to lose, so a switch fails no request."""
_NO_UPSTREAM = "no release deployed yet\n"
"""The answer of a route whose upstream is empty (provisioned, nothing deployed)."""


@dataclass(frozen=True, slots=True)
class Route:
    """The stable address of one (component, environment) and where it sends requests;
    an empty ``upstream`` answers 503 (provisioned, nothing deployed yet)."""

    component: str
    environment: str
    upstream: str
    listen_port: int
    host: str | None = None
    listen_host: str = "127.0.0.1"

    @property
    def key(self) -> str:
        return f"{self.component}/{self.environment}"

    @property
    def url(self) -> str:
        return f"http://{self.host or self.listen_host}:{self.listen_port}"


def server_prefix(instance: str) -> str:
    """The prefix of every Caddy server and route id of the Shipyard ``instance``."""
    return f"{SERVER_PREFIX}{_UNSAFE.sub('_', instance)}_"


def route_id(component: str, environment: str, instance: str) -> str:
    return f"{server_prefix(instance)}{_UNSAFE.sub('_', f'{component}_{environment}')}"


def _handler(route: Route) -> dict[str, Any]:
    if not route.upstream:
        return {"handler": "static_response", "status_code": 503, "body": _NO_UPSTREAM}
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": route.upstream}],
        "load_balancing": {"try_duration": _DIAL_RETRY, "try_interval": "50ms"},
    }


def _caddy_route(route: Route, instance: str) -> dict[str, Any]:
    caddy: dict[str, Any] = {
        "@id": route_id(route.component, route.environment, instance),
        "handle": [_CLOSE_CONNECTION, _handler(route)],
        "terminal": True,
    }
    if route.host:
        caddy["match"] = [{"host": [route.host]}]
    return caddy


def _servers(routes: Iterable[Route], instance: str) -> dict[str, Any]:
    by_port: dict[tuple[str, int], list[Route]] = {}
    for route in routes:
        by_port.setdefault((route.listen_host, route.listen_port), []).append(route)
    servers: dict[str, Any] = {}
    for (listen_host, port), group in sorted(by_port.items()):
        ordered = sorted(group, key=lambda r: (r.host is None, r.key))  # catch-all last
        servers[f"{server_prefix(instance)}{port}"] = {
            "listen": [f"{listen_host}:{port}"],
            "automatic_https": {"disable": True},
            "routes": [_caddy_route(route, instance) for route in ordered],
        }
    return servers


def _ours(name: str, server: Any, instance: str, listens: set[str]) -> bool:
    """A server this config replaces: this Shipyard's, or a pre-instance one in the way."""
    if name.startswith(server_prefix(instance)):
        return True
    taken = isinstance(server, dict) and bool(listens & set(server.get("listen") or ()))
    return bool(_LEGACY_SERVER.match(name)) and taken


def caddy_config(
    routes: Iterable[Route],
    *,
    admin_listen: str,
    instance: str,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``base`` (Caddy's current config) with the servers of the Shipyard ``instance``
    replaced by ``routes``; every other server is kept."""
    routes = list(routes)
    new = _servers(routes, instance)
    listens = {address for server in new.values() for address in server["listen"]}
    config: dict[str, Any] = dict(base or {})
    config["admin"] = {
        **(config.get("admin") or {}),
        "listen": admin_listen,
        "config": {"persist": False},
    }
    apps = dict(config.get("apps") or {})
    http = dict(apps.get("http") or {})
    servers = {
        name: server
        for name, server in (http.get("servers") or {}).items()
        if not _ours(name, server, instance, listens)
    }
    servers.update(new)
    http["servers"] = servers
    apps["http"] = http
    config["apps"] = apps
    return config
