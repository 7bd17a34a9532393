"""A client that keeps GETting a URL across a switch, recording answers and failures."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from shipyard.targets.local.proxy import MIGRATE_REQ_SYSCTL, switch_drops_queued

__all__ = ["RequestLoop", "require_zero_drop_switches"]


def require_zero_drop_switches() -> None:
    """A switch under load fails no request only where Linux moves the connections queued
    on Caddy's old listening socket to the new one (``make setup`` sets it)."""
    if switch_drops_queued():
        pytest.fail(
            f"{MIGRATE_REQ_SYSCTL} is 0: Caddy's reload resets connections queued during a "
            "switch; run `sysctl -w net.ipv4.tcp_migrate_req=1` (or scripts/setup.sh)"
        )


class RequestLoop:
    """GETs a URL over and over (keep-alive, like a browser) until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code == 200:
                    self.answers.append(response.text)
                else:
                    self.failures.append(f"HTTP {response.status_code}")

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def wait_for(self, answer: str, *, after: int = 0, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.answers[after:].count(answer) < 20:
            assert time.monotonic() < deadline, (
                f"{self.url} did not answer {answer!r} 20 times within {timeout_s} s"
            )
            time.sleep(0.01)
