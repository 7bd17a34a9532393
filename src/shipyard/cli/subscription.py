"""``shipyard subscription``: webhooks out (through the API, as an admin): create, ls,
rm, and the deliveries of one subscription."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import PAGE_SIZE, ApiClient, ServerOption, TokenOption, connect
from shipyard.cli._utilities import console, err_console, print_json, with_errors_handled

__all__: list[str] = []

subscription_app = typer.Typer(
    help="Webhook subscriptions (admin): create, ls, rm, deliveries.",
    no_args_is_help=True,
)
app.add_typer(subscription_app, name="subscription")


EVENTS = (
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.cancelled",
    "build.failed",
)


def _describe(subscription: dict[str, Any]) -> str:
    scope = " ".join(
        f"{key} {subscription[key]}"
        for key in ("component", "environment")
        if subscription[key] is not None
    )
    return "\t".join(
        part
        for part in (
            str(subscription["id"]),
            subscription["url"],
            ",".join(subscription["events"]),
            scope,
        )
        if part
    )


@subscription_app.command("create")
@with_errors_handled
def create(
    url: Annotated[str, typer.Argument(help="where events are POSTed (https://...)")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help=f"an event to send: {', '.join(EVENTS)}; repeat for more; default: all",
            show_default=False,
        ),
    ] = None,
    component: Annotated[
        str | None,
        typer.Option("--component", help="only this component's events (namespace/name)"),
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", help="only events in this environment")
    ] = None,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Subscribe URL to events and print its signing secret, this once."""
    events = list(dict.fromkeys(event or EVENTS))
    unknown = [name for name in events if name not in EVENTS]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(map(repr, unknown))}: give one of {', '.join(EVENTS)}",
            param_hint="--event",
        )
    body: dict[str, Any] = {"url": url, "events": events}
    if component is not None:
        body["component"] = component
    if environment is not None:
        body["environment"] = environment
    with ApiClient(connect(server, token)) as client:
        created = client.post("/subscriptions", body)
    if output is OutputFormat.json:
        print_json(created)
        return
    err_console.print(
        f"subscription {_describe(created)}\nits signing secret (Standard Webhooks), "
        "shown this once:",
        highlight=False,
    )
    console.print(created["secret"], highlight=False, soft_wrap=True)


@subscription_app.command("ls")
@with_errors_handled
def list_subscriptions(
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List the live subscriptions; never a secret."""
    with ApiClient(connect(server, token)) as client:
        items = client.get_all("/subscriptions")
    if output is OutputFormat.json:
        print_json({"items": items})
        return
    for item in items:
        console.print(_describe(item), highlight=False, soft_wrap=True)


@subscription_app.command("rm")
@with_errors_handled
def remove(
    subscription_id: Annotated[
        int, typer.Argument(metavar="ID", help="the subscription's id (subscription ls)")
    ],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a subscription: nothing more is sent to it; pending deliveries stop."""
    with ApiClient(connect(server, token)) as client:
        removed = client.request("DELETE", f"/subscriptions/{subscription_id}")
    if output is OutputFormat.json:
        print_json(removed)
        return
    console.print(f"deleted {_describe(removed)}", highlight=False, soft_wrap=True)


@subscription_app.command("deliveries")
@with_errors_handled
def deliveries(
    subscription_id: Annotated[
        int, typer.Argument(metavar="ID", help="the subscription's id (subscription ls)")
    ],
    limit: Annotated[int, typer.Option("--limit", min=1, max=PAGE_SIZE)] = 50,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """The newest deliveries: status, attempts, the last answer."""
    with ApiClient(connect(server, token)) as client:
        page = client.get(f"/subscriptions/{subscription_id}/deliveries", limit=limit)
    if output is OutputFormat.json:
        print_json(page)
        return
    for item in page["items"]:
        answer = item["last_status_code"] or item["last_error"] or "-"
        console.print(
            f"{item['id']}\t{item['event']}\t{item['status']}\tattempts {item['attempts']}\t"
            f"last {answer}",
            highlight=False,
            soft_wrap=True,
        )
