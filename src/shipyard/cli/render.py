"""``shipyard render``: the resources a component's target would declare, offline.

Runs the target's program under Pulumi's mock runtime: no credentials, no Pulumi backend,
no cloud call. Contract violations stop it with located problems (exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._utilities import (
    EXIT_FAILURE,
    console,
    err_console,
    exit_with_error,
    print_json,
    with_errors_handled,
)

__all__ = ["render"]


@app.command()
@with_errors_handled
def render(
    descriptor: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the component's catalog-info.yaml")
    ],
    env: Annotated[str, typer.Option("--env", "-e", help="the environment to render")],
    platform: Annotated[
        Path, typer.Option("--platform", "-p", exists=True, dir_okay=False, help="platform.yaml")
    ],
    tag: Annotated[str, typer.Option(help="the release tag the service is rendered with")] = (
        "latest"
    ),
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show the resources (and their inputs) the environment's target would declare."""
    from shipyard.catalog import CatalogError, load_components, load_platform, resolve
    from shipyard.targets.render import as_json
    from shipyard.targets.render import render as render_target

    try:
        components = load_components(descriptor)
        if len(components) != 1:
            exit_with_error(
                f"{descriptor} holds {len(components)} components: render a descriptor with "
                "one kind: Component"
            )
        desired = resolve(components[0], env, load_platform(platform))
    except CatalogError as exc:
        for problem in exc.problems:  # one line each, never wrapped: editors jump to file:line
            err_console.print(f"error: {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE) from exc
    resources = render_target(desired, tag=tag)
    if output is OutputFormat.json:
        print_json(as_json(resources))
        return
    for resource in resources:
        console.print(f"[bold]{resource.name}[/] [dim]{resource.type}[/]", highlight=False)
        for key, value in resource.inputs.items():
            console.print(f"    {key}: {value!r}", highlight=False, markup=False, soft_wrap=True)
