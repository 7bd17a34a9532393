"""The CLI's client of the Shipyard API: where the server is, which token, typed errors.

The server URL comes from ``--server``, else ``SHIPYARD_SERVER``, else the client config
``<data-dir>/client.json`` that ``shipyard serve`` writes at start, else
``http://127.0.0.1:8000``. The token comes from ``--token``, else ``SHIPYARD_TOKEN``, else
the token file that config names (the admin token on the server's machine).

Exit codes (documented in docs/api.md): 1 the server refused the request, or the
deployment failed; 2 usage; 3 the server cannot be reached; 4 no valid token; 5 not found.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Self

import httpx
import typer

from shipyard._files import write_atomic
from shipyard.errors import ShipyardError
from shipyard.settings import Settings

__all__ = [
    "CLIENT_CONFIG_FILE",
    "DEFAULT_SERVER",
    "EXIT_NOT_FOUND",
    "EXIT_UNAUTHORIZED",
    "EXIT_UNREACHABLE",
    "PAGE_SIZE",
    "ApiClient",
    "ClientError",
    "Connection",
    "ServerOption",
    "SseMessage",
    "TokenOption",
    "connect",
    "iter_sse",
    "parse_component_ref",
    "write_client_config",
]

DEFAULT_SERVER = "http://127.0.0.1:8000"
CLIENT_CONFIG_FILE = "client.json"
API = "/api/v1"
PAGE_SIZE = 200
"""Items per page when the CLI reads a whole list (the API's largest page)."""

EXIT_UNREACHABLE = 3
EXIT_UNAUTHORIZED = 4
EXIT_NOT_FOUND = 5
_EXIT_BY_STATUS = {401: EXIT_UNAUTHORIZED, 403: EXIT_UNAUTHORIZED, 404: EXIT_NOT_FOUND}
_RECONNECTS = 5

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="SHIPYARD_SERVER",
        help=f"the Shipyard API; default: <data-dir>/{CLIENT_CONFIG_FILE}, else {DEFAULT_SERVER}",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="SHIPYARD_TOKEN",
        help="an API token; default: the token file named in the client config",
        show_default=False,
    ),
]


class ClientError(ShipyardError):
    """The API could not be used: the message says why; ``exit_code`` is the CLI's."""

    def __init__(self, message: str, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status


@dataclass(frozen=True, slots=True)
class Connection:
    server: str
    token: str | None


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    data: str
    id: str | None


def write_client_config(data_dir: Path, server: str, token_file: Path) -> Path:
    """``<data-dir>/client.json``: where clients on this machine find the server."""
    path = data_dir / CLIENT_CONFIG_FILE
    write_atomic(path, json.dumps({"server": server, "token_file": str(token_file)}, indent=2))
    return path


def _client_config() -> dict[str, Any]:
    path = Settings().data_dir / CLIENT_CONFIG_FILE
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _token_from(config: dict[str, Any]) -> str | None:
    token_file = config.get("token_file")
    if not isinstance(token_file, str):
        return None
    try:
        return Path(token_file).read_text().strip() or None
    except OSError:
        return None


def connect(server: str | None, token: str | None) -> Connection:
    """Flags and environment first (typer merged them), then the client config."""
    config = _client_config() if server is None or token is None else {}
    return Connection(
        server=(server or config.get("server") or DEFAULT_SERVER).rstrip("/"),
        token=token or _token_from(config),
    )


def parse_component_ref(ref: str) -> tuple[str, str]:
    """``name`` (namespace ``default``) or ``namespace/name``."""
    parts = ref.strip().split("/")
    if len(parts) == 1 and parts[0]:
        return "default", parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ClientError(f"{ref!r} is not a component: write name or namespace/name", exit_code=2)


def _problem_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"the server answered {response.status_code}: {response.text[:200]}"
    message = str(body.get("detail") or body.get("title") or response.reason_phrase)
    if response.status_code == 401:
        message += " (pass --token or set SHIPYARD_TOKEN)"
    return message


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    response.read()
    raise ClientError(
        _problem_message(response),
        exit_code=_EXIT_BY_STATUS.get(response.status_code, 1),
        status=response.status_code,
    )


def iter_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Server-Sent Events from a stream of lines (messages without data are skipped)."""
    event, data, event_id = "message", list[str](), None
    for line in lines:
        if not line:
            if data:
                yield SseMessage(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


class ApiClient:
    """JSON calls to the API; every failure becomes a :class:`ClientError`."""

    def __init__(self, connection: Connection, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {connection.token}"} if connection.token else {}
        self.server = connection.server
        self._http = httpx.Client(base_url=connection.server, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def _unreachable(self, exc: httpx.TransportError) -> ClientError:
        return ClientError(
            f"cannot reach the Shipyard server at {self.server} ({exc}): is `shipyard serve` "
            "running? Point --server or SHIPYARD_SERVER at it",
            exit_code=EXIT_UNREACHABLE,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        _raise_for_problem(response)
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def get_all(self, path: str, *, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """Every item of a paged list route (``items``, ``next_offset``), page by page."""
        items: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.get(path, limit=page_size, offset=offset)
            items.extend(page["items"])
            offset = page["next_offset"]
        return items

    def deployment_events(self, deployment_id: int, *, follow: bool) -> Iterator[dict[str, Any]]:
        """The deployment's events, then (following) live ones until it ends; reconnects
        with ``Last-Event-ID`` when the stream breaks."""
        last_seq: int | None = None
        for attempt in range(_RECONNECTS + 1):
            try:
                for message in self._stream(deployment_id, follow, last_seq):
                    if message.event == "end":
                        return
                    event: dict[str, Any] = json.loads(message.data)
                    last_seq = int(event["seq"])
                    yield event
                return
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt == _RECONNECTS:
                    raise self._unreachable(exc) from exc
                time.sleep(1.0)  # the server's SSE retry hint

    def _stream(
        self, deployment_id: int, follow: bool, last_seq: int | None
    ) -> Iterator[SseMessage]:
        headers = {"Last-Event-ID": str(last_seq)} if last_seq is not None else {}
        path = f"{API}/deployments/{deployment_id}/events"
        params = {"follow": "true" if follow else "false"}
        try:
            with self._http.stream(
                "GET", path, params=params, headers=headers, timeout=httpx.Timeout(30, read=None)
            ) as response:
                _raise_for_problem(response)
                yield from iter_sse(response.iter_lines())
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from exc
