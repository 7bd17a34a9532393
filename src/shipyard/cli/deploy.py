"""``shipyard deploy``, ``shipyard status`` and ``shipyard logs``: deployments through the API."""

from __future__ import annotations

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
from shipyard.cli._deployments import print_event as _print_event
from shipyard.cli._deployments import request_deployment
from shipyard.cli._utilities import console, print_json, with_errors_handled

__all__: list[str] = []


@app.command()
@with_errors_handled
def deploy(
    component: Annotated[str, typer.Argument(metavar="COMPONENT", help="name or namespace/name")],
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="git tag to deploy")] = None,
    release: Annotated[int | None, typer.Option(help="an earlier release id instead")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait, showing events")] = False,
    force: Annotated[bool, typer.Option(help="run even if nothing changed")] = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Deploy TAG of COMPONENT to an environment (queued; --follow waits for the end)."""
    namespace, name = parse_component_ref(component)
    body: dict[str, Any] = {"environment": env, "tag": tag, "release": release, "force": force}
    request_deployment(
        f"/components/{namespace}/{name}/deployments",
        {key: value for key, value in body.items() if value is not None},
        follow=follow,
        output=output,
        server=server,
        token=token,
    )


@app.command()
@with_errors_handled
def status(
    component: Annotated[str, typer.Argument(metavar="COMPONENT", help="name or namespace/name")],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Where COMPONENT runs: per environment, its URL and last deployment."""
    namespace, name = parse_component_ref(component)
    with ApiClient(connect(server, token)) as client:
        detail = client.get(f"/components/{namespace}/{name}")
    if output is OutputFormat.json:
        print_json({"component": detail["ref"], "environments": detail["environments"]})
        return
    console.print(f"[bold]{detail['ref']}[/]", highlight=False, soft_wrap=True)
    if not detail["environments"]:
        console.print("  not deployed anywhere yet", highlight=False, soft_wrap=True)
    for env in detail["environments"]:
        last = env["last_deployment"]
        state = f"{last['status']} ({last['tag'] or last['release']})" if last else "-"
        console.print(
            f"  {env['environment']}: {env['url'] or 'no URL'}  last deployment {state}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
@with_errors_handled
def logs(
    deployment_id: Annotated[int, typer.Argument(metavar="DEPLOYMENT_ID")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="stream until it ends")] = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """The events of a deployment; with -f, live until it finishes."""
    with ApiClient(connect(server, token)) as client:
        events: list[dict[str, Any]] = []
        for event in client.deployment_events(deployment_id, follow=follow):
            if output is OutputFormat.json:
                events.append(event)
            else:
                _print_event(event)
        if output is OutputFormat.json:
            deployment = client.get(f"/deployments/{deployment_id}")
            print_json({"deployment": deployment, "events": events})
