"""``shipyard webhook secret set COMPONENT``: a component's own webhook secret (through
the API), printed this once."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import ApiClient, ServerOption, TokenOption, connect, parse_component_ref
from shipyard.cli._utilities import console, err_console, print_json, with_errors_handled

__all__: list[str] = []

webhook_app = typer.Typer(help="Webhooks in: components' own secrets.", no_args_is_help=True)
secret_app = typer.Typer(help="A component's webhook secret.", no_args_is_help=True)
webhook_app.add_typer(secret_app, name="secret")
app.add_typer(webhook_app, name="webhook")


@secret_app.command("set")
@with_errors_handled
def set_secret(
    component: Annotated[str, typer.Argument(help="namespace/name (or name, in default)")],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Give COMPONENT a new webhook secret (its previous one stops working) and print it,
    this once: paste it into GitHub (Secret), GitLab (Secret token) or a Standard
    Webhooks sender. Needs a deployer of the component's team, or an admin."""
    namespace, name = parse_component_ref(component)
    with ApiClient(connect(server, token)) as client:
        found = client.request("PUT", f"/components/{namespace}/{name}/webhook-secret")
    if output is OutputFormat.json:
        print_json(found)
        return
    err_console.print(f"webhook secret of {found['component']}, shown this once:", highlight=False)
    console.print(found["secret"], highlight=False, soft_wrap=True)
