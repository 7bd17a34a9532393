"""How the CLI shows a deployment (of any operation): its summary, its events, the wait."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from shipyard.cli._app import OutputFormat
from shipyard.cli._client import ApiClient, connect
from shipyard.cli._utilities import EXIT_FAILURE, console, print_json

__all__ = ["print_event", "request_deployment"]

_FAILED = frozenset({"failed", "cancelled"})
_LEVEL_STYLE = {"error": "red", "warning": "yellow", "debug": "dim"}


def print_event(event: dict[str, Any]) -> None:
    text = f"{event['created_at'][11:19]} {event['kind']}: {event['message']}"
    style = _LEVEL_STYLE.get(event["level"], "")
    console.print(Text(text, style=style), highlight=False, soft_wrap=True)


def _follow(client: ApiClient, deployment_id: int, *, quiet: bool) -> dict[str, Any]:
    for event in client.deployment_events(deployment_id, follow=True):
        if not quiet:
            print_event(event)
    final: dict[str, Any] = client.get(f"/deployments/{deployment_id}")
    return final


def _summary(deployment: dict[str, Any]) -> str:
    where = f" at {deployment['url']}" if deployment["url"] else ""
    what = deployment["tag"] or (
        f"release {deployment['release']}" if deployment["release"] else "stack"
    )
    reason = "" if deployment["reason"] in ("deploy", "auto") else f"{deployment['reason']} "
    return (
        f"deployment {deployment['id']}: {reason}{deployment['component']} {what} -> "
        f"{deployment['environment']} {deployment['status']}{where}"
    )


def request_deployment(
    path: str,
    body: dict[str, Any],
    *,
    follow: bool,
    output: OutputFormat,
    server: str | None,
    token: str | None,
) -> None:
    """POST ``body`` to ``path`` and print the deployment that answers (one JSON object
    with ``--output json``); with ``follow``, wait for its end showing its events, and
    exit 1 if it failed or was cancelled."""
    with ApiClient(connect(server, token)) as client:
        deployment: dict[str, Any] = client.post(path, body)
        if follow:
            if output is OutputFormat.text:
                console.print(_summary(deployment), highlight=False, soft_wrap=True)
            deployment = _follow(client, deployment["id"], quiet=output is OutputFormat.json)
    if output is OutputFormat.json:
        print_json(deployment)
    else:
        console.print(_summary(deployment), highlight=False, soft_wrap=True)
    if follow and deployment["status"] in _FAILED:
        raise typer.Exit(EXIT_FAILURE)
