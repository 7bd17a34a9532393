"""The API under test: a real server, an admin client, and problem+json assertions."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from shipyard.api import ADMIN_TOKEN_FILE, EventStreamOptions, create_app
from shipyard.settings import Settings
from shipyard.testing.server import running_server

__all__ = [
    "Api",
    "assert_problem",
    "one_json_object",
    "run_cli",
    "serve_api",
    "serve_process",
    "serve_sqlite_api",
    "settings_environment",
]

FAST_EVENTS = EventStreamOptions(poll_interval=0.02, keepalive=0.2)


@dataclass
class Api:
    url: str
    token: str
    settings: Settings
    database: Engine
    """The test's own connection pool on the server's database, to arrange and inspect rows."""
    client: httpx.Client
    """Authenticated as the admin."""

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def serve_api(settings: Settings, database: Engine) -> Iterator[Api]:
    app = create_app(settings, event_stream=FAST_EVENTS)
    with running_server(app) as url:
        token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            yield Api(url, token, settings, database, client)


@contextmanager
def serve_sqlite_api(folder: Path, **options: Any) -> Iterator[Api]:
    """The API on a SQLite file in ``folder`` with the sample platform (``write_platform``)
    and its data and cache dirs there; ``options`` are further settings."""
    from shipyard.store import open_database
    from shipyard.testing.samples import write_platform

    url = f"sqlite:///{folder / 'shipyard.db'}"
    settings = Settings(
        data_dir=folder / "data",
        cache_dir=folder / "cache",
        database_url=url,
        platform=write_platform(folder / "platform.yaml"),
        **options,
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            yield api
    finally:
        database.dispose()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``shipyard ARGS`` (the venv's console script) in a process of its own, with ``env``."""
    shipyard = Path(sys.executable).with_name("shipyard")
    return subprocess.run(
        [str(shipyard), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def one_json_object(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The command succeeded and its whole output is one JSON object."""
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert isinstance(body, dict)
    return body


_LISTENING = re.compile(r"Shipyard is listening on (http://\S+)")
_SETTINGS_PASSED = (
    "data_dir",
    "cache_dir",
    "pulumi",
    "proxy_admin_url",
    "platform",
    "registry",
    "database_url",
    "secrets_provider",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
)


def settings_environment(settings: Settings) -> dict[str, str]:
    """This process's environment without its ``SHIPYARD_*`` variables, plus the ones that
    give a ``shipyard`` subprocess the same data dir, cache, Pulumi, proxy, platform,
    registry, database, secrets provider, OIDC client and source roots as ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    for name in _SETTINGS_PASSED:
        value = getattr(settings, name)
        if value is not None:
            env[f"SHIPYARD_{name.upper()}"] = str(value)
    if settings.source_roots:
        env["SHIPYARD_SOURCE_ROOTS"] = json.dumps([str(root) for root in settings.source_roots])
    return env


@contextmanager
def serve_process(
    settings: Settings, database: Engine, *, workers: int = 1, timeout: float = 120.0
) -> Iterator[Api]:
    """``shipyard serve`` as users run it, in a process of its own (API, workers, tag
    watchers, product defaults), on ``settings``; its log is ``<data_dir>/serve.log``."""
    env = {**settings_environment(settings), "SHIPYARD_PORT": "0", "SHIPYARD_WORKERS": str(workers)}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = settings.data_dir / "serve.log"
    shipyard = Path(sys.executable).with_name("shipyard")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(shipyard), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = _wait_listening(process, log, timeout)
        token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as client:
            yield Api(url, token, settings, database, client)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(process: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found is not None:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)  # the server's start-up: migrations, proxy, workers
    raise RuntimeError(f"`shipyard serve` did not start: see {log}\n{log.read_text()[-4000:]}")


def assert_problem(
    response: httpx.Response, status: int, *, instance: str | None = None
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if instance is not None:
        assert body["instance"] == instance
    return body
