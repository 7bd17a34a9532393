"""``shipyard component``: register, sync, list and show components (through the API)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import (
    ApiClient,
    ServerOption,
    TokenOption,
    connect,
    parse_component_ref,
)
from shipyard.cli._utilities import console, print_json, with_errors_handled

__all__: list[str] = []

component_app = typer.Typer(help="Components: register, sync, list, show.", no_args_is_help=True)
app.add_typer(component_app, name="component")

_GIT_URL = re.compile(r"^[\w+.-]+://|^[\w.-]+@[\w.-]+:")


def _registration(source: str) -> dict[str, str]:
    if _GIT_URL.match(source):
        return {"url": source}
    return {"path": str(Path(source).expanduser().resolve())}


@component_app.command("register")
@with_errors_handled
def register(
    source: Annotated[
        str, typer.Argument(metavar="PATH", help="catalog-info.yaml, its directory, or a git URL")
    ],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Register the components a descriptor holds (or update them)."""
    with ApiClient(connect(server, token)) as client:
        result = client.post("/components", _registration(source))
    if output is OutputFormat.json:
        print_json(result)
        return
    for component in result["components"]:
        console.print(f"registered {component['ref']}", highlight=False, soft_wrap=True)


@component_app.command("sync")
@with_errors_handled
def sync(
    backstage_url: Annotated[
        str | None,
        typer.Option(
            "--backstage-url",
            help="the Backstage backend; default: the server's SHIPYARD_BACKSTAGE_URL",
            show_default=False,
        ),
    ] = None,
    backstage_token: Annotated[
        str | None,
        typer.Option(
            "--backstage-token",
            help="bearer token for that catalog; default: the server's "
            "SHIPYARD_BACKSTAGE_TOKEN (for its own catalog only)",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Register or update every annotated Component of a Backstage catalog."""
    body = {
        key: value
        for key, value in (("backstage_url", backstage_url), ("token", backstage_token))
        if value is not None
    }
    with ApiClient(connect(server, token)) as client:
        result = client.post("/components/sync", body)
    if output is OutputFormat.json:
        print_json(result)
        return
    for outcome in ("created", "updated", "unchanged"):
        for ref in result[outcome]:
            console.print(f"{outcome} {ref}", highlight=False, soft_wrap=True)
    for rejected in result["rejected"]:
        for problem in rejected["problems"]:
            where = f" {problem['path']}" if problem["path"] else ""
            hint = f" (hint: {problem['hint']})" if problem["hint"] else ""
            console.print(
                f"rejected {rejected['ref']}{where}: {problem['message']}{hint}",
                highlight=False,
                soft_wrap=True,
            )


def _all_components(client: ApiClient) -> list[dict[str, Any]]:
    return client.get_all("/components")


@component_app.command("ls")
@with_errors_handled
def list_components(
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List every registered component."""
    with ApiClient(connect(server, token)) as client:
        items = _all_components(client)
    if output is OutputFormat.json:
        print_json({"items": items})
        return
    for component in items:
        owner = component["owner"] or "-"
        console.print(f"{component['ref']}\towner {owner}", highlight=False, soft_wrap=True)


@component_app.command("show")
@with_errors_handled
def show(
    component: Annotated[str, typer.Argument(metavar="COMPONENT", help="name or namespace/name")],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Show a component: owner, source, and where it runs."""
    namespace, name = parse_component_ref(component)
    with ApiClient(connect(server, token)) as client:
        detail = client.get(f"/components/{namespace}/{name}")
    if output is OutputFormat.json:
        print_json(detail)
        return
    console.print(f"[bold]{detail['ref']}[/]", highlight=False, soft_wrap=True)
    for key in ("owner", "template", "source"):
        console.print(f"  {key}: {detail[key] or '-'}", highlight=False, soft_wrap=True)
    for env in detail["environments"]:
        console.print(
            f"  {env['environment']}: {env['url'] or 'not deployed'}",
            highlight=False,
            soft_wrap=True,
        )
