"""A real uvicorn server in a background thread, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from shipyard.api.server import bind_socket, socket_url, uvicorn_server
from shipyard.errors import ShipyardError

__all__ = ["ServerStartError", "running_server"]


class ServerStartError(ShipyardError):
    """The test server did not start in time (its lifespan failed or hung)."""


@contextmanager
def running_server(app: FastAPI, *, timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL, stops it afterwards."""
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServerStartError("the API server did not start; see its log above")
            time.sleep(0.01)  # a poll interval, bounded by the deadline above
        yield socket_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
