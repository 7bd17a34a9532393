"""The reverse proxy in front of local services: Caddy, driven through its admin API.

Each (component, environment) keeps a stable address (a loopback port, optionally a host
name) across revisions; switching a release changes only its upstream, in one config
load, so no request fails. Routes live in ``<data_dir>/local/proxy-routes.json``: a
restarted Caddy (or Shipyard) gets them back. Without ``proxy_admin_url`` Shipyard runs
its own Caddy and restarts it if it dies.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from shipyard._files import locked, read_json, write_json
from shipyard.settings import Settings
from shipyard.targets.local._caddy_config import Route, caddy_config
from shipyard.targets.local._process import spawn
from shipyard.targets.local.errors import ProxyError, ToolMissingError
from shipyard.targets.local.instance import instance_id

__all__ = ["DEFAULT_ADMIN_ADDRESS", "MIGRATE_REQ_SYSCTL", "Proxy", "Route", "switch_drops_queued"]

DEFAULT_ADMIN_ADDRESS = "127.0.0.1:2019"
_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0
_RESTART_BACKOFF_S = 0.5

_log = structlog.get_logger(__name__)


MIGRATE_REQ_SYSCTL = Path("/proc/sys/net/ipv4/tcp_migrate_req")
"""Caddy (2.6 and later) applies every config change, a switch included, on new listening
sockets opened with ``SO_REUSEPORT`` and closes the old ones; Linux resets the connections
still waiting in a closed socket's accept queue unless this is 1 (Linux 5.14 and later),
which moves them to the new socket. Measured here: 45 resets over 300 reloads under a
request loop with it 0, none over 800 with it 1 (docs/decisions.md)."""


def switch_drops_queued(sysctl: Path = MIGRATE_REQ_SYSCTL) -> bool | None:
    """True when a route switch may reset connections arriving during it (the setting is
    0), False when it may not, None when this kernel has no such setting (not Linux, or
    older than 5.14)."""
    try:
        return sysctl.read_text().strip() == "0"
    except OSError:
        return None


def _own_admin_address(state_dir: Path) -> str:
    path = state_dir / "proxy-admin.json"
    with locked(path):
        address = read_json(path).get("admin")
        if not isinstance(address, str):
            address = f"127.0.0.1:{_free_port('127.0.0.1')}"
            write_json(path, {"admin": address})
    return address


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Proxy:
    """Shipyard's routes on a Caddy it starts and supervises, or on one already running."""

    def __init__(
        self,
        state_dir: Path,
        *,
        admin_url: str | None = None,
        admin_address: str = DEFAULT_ADMIN_ADDRESS,
        caddy: str = "caddy",
        instance: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.instance = instance or instance_id(state_dir.parent)
        """This Shipyard's id (by default the one of the data dir holding ``state_dir``):
        its Caddy servers and route ids carry it, so a shared Caddy keeps apart the routes
        of two Shipyards."""
        self.routes_file = state_dir / "proxy-routes.json"
        self.external = admin_url is not None
        self.admin_url = (admin_url or f"http://{admin_address}").rstrip("/")
        self.admin_address = self.admin_url.removeprefix("http://").removeprefix("https://")
        self.caddy = caddy
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Proxy:
        """The configured Caddy, else this data dir's own: its admin address is picked once
        (a free loopback port) and kept in ``<data_dir>/local/proxy-admin.json``, so two
        Shipyards on one machine never share a Caddy."""
        state_dir = settings.data_dir / "local"
        if settings.proxy_admin_url is None and "admin_address" not in kwargs:
            kwargs["admin_address"] = _own_admin_address(state_dir)
        kwargs.setdefault("instance", instance_id(settings.data_dir))
        return cls(state_dir, admin_url=settings.proxy_admin_url, **kwargs)

    # lifecycle

    def start(self, *, sync: bool = True) -> None:
        """Make sure Caddy runs and serves every saved route. ``sync=False`` attaches to an
        external Caddy without loading the routes again (whoever runs it loaded them)."""
        with self._lock:
            if self.external:
                if sync:
                    self._apply()
                return
            self._stopping.clear()
            self._spawn()
            self._supervisor = threading.Thread(
                target=self._supervise, name="caddy-supervisor", daemon=True
            )
            self._supervisor.start()

    def close(self) -> None:
        """Stop the Caddy this proxy started (routes stay saved for the next start)."""
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor is not None:
            self._supervisor.join(_STOP_TIMEOUT_S)
            self._supervisor = None

    def __enter__(self) -> Proxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _spawn(self) -> None:
        config_file = self.state_dir / "caddy.json"
        routes = self.routes()
        write_json(
            config_file,
            caddy_config(routes, admin_listen=self.admin_address, instance=self.instance),
        )
        home = self.state_dir / "caddy"
        env = {"XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
        try:
            self._process = spawn(
                [self.caddy, "run", "--config", str(config_file)],
                log_file=self.state_dir / "caddy.log",
                env=env,
            )
        except ToolMissingError as exc:
            raise ProxyError(
                f"the reverse proxy `{self.caddy}` is not installed: install Caddy "
                "(`apt-get install caddy`) or set SHIPYARD_PROXY_ADMIN_URL to a running one"
            ) from exc
        self._wait_for_admin(self._process)
        _log.info("proxy.started", pid=self._process.pid, admin=self.admin_url)

    def _wait_for_admin(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                httpx.get(f"{self.admin_url}/config/", timeout=1.0, trust_env=False)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            return
        raise ProxyError(
            f"Caddy did not answer on its admin API {self.admin_url} within "
            f"{_START_TIMEOUT_S:g} s: see {self.state_dir / 'caddy.log'}; another program may "
            "hold the admin port or a route's port"
        )

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.wait(_RESTART_BACKOFF_S):
                return
            _log.warning("proxy.died", code=code, pid=process.pid)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._spawn()
                except ProxyError as exc:
                    _log.error("proxy.restart_failed", error=str(exc))

    # routes

    def routes(self) -> list[Route]:
        return [Route(**raw) for raw in read_json(self.routes_file).get("routes", [])]

    def route(self, component: str, environment: str) -> Route | None:
        key = f"{component}/{environment}"
        return next((route for route in self.routes() if route.key == key), None)

    def set_route(
        self,
        component: str,
        environment: str,
        upstream: str,
        *,
        host: str | None = None,
        listen_port: int | None = None,
    ) -> Route:
        """Point the stable address of (component, environment) at ``upstream``
        (``127.0.0.1:<port>``); its port is kept, or picked once and saved."""
        with self._lock, locked(self.routes_file):
            routes = {route.key: route for route in self.routes()}
            old = routes.get(f"{component}/{environment}")
            port = listen_port or (old.listen_port if old else _free_port("127.0.0.1"))
            route = Route(component, environment, upstream, port, host)
            routes[route.key] = route
            self._save(list(routes.values()))
            self._apply()
        _log.info("proxy.route", route=route.key, upstream=upstream, url=route.url)
        return route

    def remove_route(self, component: str, environment: str) -> None:
        with self._lock, locked(self.routes_file):
            key = f"{component}/{environment}"
            self._save([route for route in self.routes() if route.key != key])
            self._apply()

    def _save(self, routes: list[Route]) -> None:
        write_json(self.routes_file, {"routes": [dataclasses.asdict(r) for r in routes]})

    def _apply(self) -> None:
        """Load Shipyard's routes into Caddy, keeping whatever else it serves."""
        try:
            current = httpx.get(f"{self.admin_url}/config/", timeout=5.0, trust_env=False)
            current.raise_for_status()
            config = caddy_config(
                self.routes(),
                admin_listen=self.admin_address,
                instance=self.instance,
                base=current.json() or None,
            )
            answer = httpx.post(
                f"{self.admin_url}/load", json=config, timeout=30.0, trust_env=False
            )
        except httpx.HTTPError as exc:
            raise ProxyError(
                f"Caddy's admin API {self.admin_url} did not answer ({exc}): is Caddy running?"
            ) from exc
        if answer.status_code != httpx.codes.OK:
            raise ProxyError(
                f"Caddy refused Shipyard's routes (HTTP {answer.status_code}): "
                f"{answer.text.strip()[:500]}"
            )
