"""``shipyard provision|rollback|promote|preview|destroy|cancel``: stack operations
through the API. Each prints the deployment that records it; ``--follow`` waits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import ServerOption, TokenOption, parse_component_ref
from shipyard.cli._deployments import request_deployment
from shipyard.cli._utilities import EXIT_USAGE, exit_with_error, with_errors_handled

__all__: list[str] = []

ComponentArgument = Annotated[
    str, typer.Argument(metavar="COMPONENT", help="name or namespace/name")
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="environment")]
FollowOption = Annotated[bool, typer.Option("--follow", "-f", help="wait, showing events")]


def _operate(
    component: str,
    operation: str,
    body: dict[str, Any],
    *,
    follow: bool,
    output: OutputFormat,
    server: str | None,
    token: str | None,
) -> None:
    namespace, name = parse_component_ref(component)
    path = f"/components/{namespace}/{name}/{operation}"
    request_deployment(path, body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def provision(
    component: ComponentArgument,
    env: EnvOption,
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Create COMPONENT's registry, build trigger and route in an environment."""
    body = {"environment": env}
    _operate(component, "provision", body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def rollback(
    component: ComponentArgument,
    env: EnvOption,
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Deploy the release that ran before the current one in an environment."""
    body = {"environment": env}
    _operate(component, "rollback", body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def promote(
    component: ComponentArgument,
    source: Annotated[str, typer.Option("--from", help="the environment to promote from")],
    destination: Annotated[
        str | None, typer.Option("--to", help="a later environment; default: the next one")
    ] = None,
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Deploy the image running in --from to the next environment (or --to)."""
    body = {"from": source, **({"to": destination} if destination else {})}
    _operate(component, "promote", body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def preview(
    component: ComponentArgument,
    env: EnvOption,
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="the tag to preview; default: running")
    ] = None,
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Show what deploying TAG would change (the diff comes as events)."""
    body = {"environment": env, **({"tag": tag} if tag else {})}
    _operate(component, "previews", body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def destroy(
    component: ComponentArgument,
    env: EnvOption,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: tear the stack down")] = False,
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Tear down COMPONENT's stack in an environment (needs --yes); records stay."""
    if not yes:
        exit_with_error(
            f"destroy removes {component}'s service, route and registry in {env}: "
            "pass --yes to confirm",
            EXIT_USAGE,
        )
    body = {"environment": env}
    _operate(component, "destroy", body, follow=follow, output=output, server=server, token=token)


@app.command()
@with_errors_handled
def cancel(
    deployment_id: Annotated[int, typer.Argument(metavar="DEPLOYMENT_ID")],
    follow: FollowOption = False,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Cancel a deployment: a queued one at once, a running one as soon as it stops."""
    path = f"/deployments/{deployment_id}/cancel"
    request_deployment(path, {}, follow=follow, output=output, server=server, token=token)
