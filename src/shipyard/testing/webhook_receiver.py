"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that verifies each
delivery's Standard Webhooks signature, keeps every request it got, and answers with the
status codes it is told to (then 204)."""

from __future__ import annotations

import ssl
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["Received", "Receiver", "webhook_receiver"]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any
    """The JSON body if the signature verified with the secret, else None."""
    error: str | None
    status: int


@dataclass
class Receiver:
    url: str
    secret: str | None = None
    """Set it once the subscription is created (its secret is shown then)."""
    answers: deque[int] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def fail_next(self, statuses: Iterable[int]) -> None:
        with self.lock:
            self.answers.extend(statuses)

    def accepted(self) -> list[Received]:
        """The requests answered 2xx."""
        with self.lock:
            return [item for item in self.received if 200 <= item.status < 300]

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Wait until ``count`` requests were answered 2xx; returns them."""
        with self.arrived:
            self.arrived.wait_for(
                lambda: sum(200 <= item.status < 300 for item in self.received) >= count,
                timeout=timeout,
            )
        return self.accepted()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            verified: Any = None
            error: str | None = None
            try:
                if receiver.secret is None:
                    raise WebhookVerificationError("the test gave the receiver no secret")
                verified = Webhook(receiver.secret).verify(body, headers)
            except WebhookVerificationError as exc:
                error = str(exc)
            with receiver.arrived:
                status = receiver.answers.popleft() if receiver.answers else 204
                if error is not None:
                    status = 401
                receiver.received.append(
                    Received(self.path, headers, body, verified, error, status)
                )
                receiver.arrived.notify_all()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(
    path: str = "/hooks/shipyard", *, port: int = 0, tls: tuple[Path, Path] | None = None
) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (``port``: a given one, e.g. one a delivery
    already failed to reach; default: a free one). ``tls``: a certificate and its key
    (PEM) to serve https with, as ``https://localhost:<port>``."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(Receiver(url="")))
    host, port = server.server_address[:2]
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile=str(tls[0]), keyfile=str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme, host = "https", "localhost"
    receiver = Receiver(url=f"{scheme}://{host!s}:{port}{path}")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
