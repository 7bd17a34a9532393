"""``shipyard token``: issue, list and revoke API tokens (through the API, as an admin),
and rotate the admin token (on the server's machine, in its database).

``rotate-admin`` is, with ``db``, ``serve`` and ``worker``, a command that opens the
database itself: it must work when the admin token is lost or leaked, and with no server
running (docs/decisions.md says why).
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import ApiClient, ServerOption, TokenOption, connect
from shipyard.cli._durations import parse_duration
from shipyard.cli._utilities import console, err_console, print_json, with_errors_handled
from shipyard.clock import utc_now
from shipyard.settings import Settings

__all__: list[str] = []

token_app = typer.Typer(
    help="API tokens: create, ls, revoke (admin); rotate-admin (on the server's machine).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

_ROLES = ("viewer", "deployer", "admin")


def _describe(token: dict[str, Any]) -> str:
    teams = ",".join(token["teams"]) or "-"
    expires = token["expires_at"] or "never"
    state = "live" if token["live"] else ("revoked" if token["revoked_at"] else "expired")
    return (
        f"{token['id']}\t{token['name']}\t{token['role']}\tteams {teams}\t"
        f"expires {expires}\t{state}"
    )


@token_app.command("create")
@with_errors_handled
def create(
    role: Annotated[
        str, typer.Option("--role", help="viewer, deployer or admin", show_default=False)
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="who holds it; default: <role>-<random>", show_default=False),
    ] = None,
    team: Annotated[
        list[str] | None,
        typer.Option(
            "--team",
            help="a team whose components a deployer may change (payments, "
            "group:default/payments); repeat for more",
            show_default=False,
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", help="lifetime, e.g. 30d, 12h; default: never", show_default=False
        ),
    ] = None,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Issue a token and print its secret, this once (it cannot be read back)."""
    if role not in _ROLES:
        raise typer.BadParameter(f"{role!r}: give one of {', '.join(_ROLES)}", param_hint="--role")
    body: dict[str, Any] = {"role": role, "teams": list(team or [])}
    if name is not None:
        body["name"] = name
    if expires is not None:
        body["expires_at"] = (utc_now() + parse_duration(expires, option="--expires")).isoformat()
    with ApiClient(connect(server, token)) as client:
        created = client.post("/tokens", body)
    if output is OutputFormat.json:
        print_json(created)
        return
    err_console.print(f"token {_describe(created)}\nits secret, shown this once:", highlight=False)
    console.print(created["secret"], highlight=False, soft_wrap=True)


@token_app.command("ls")
@with_errors_handled
def list_tokens(
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List every token (revoked and expired ones too); never a secret."""
    with ApiClient(connect(server, token)) as client:
        items = client.get_all("/tokens")
    if output is OutputFormat.json:
        print_json({"items": items})
        return
    for item in items:
        console.print(_describe(item), highlight=False, soft_wrap=True)


@token_app.command("revoke")
@with_errors_handled
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="the token's id (token ls)")],
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token: from now on the server refuses it."""
    with ApiClient(connect(server, token)) as client:
        revoked = client.request("DELETE", f"/tokens/{token_id}")
    if output is OutputFormat.json:
        print_json(revoked)
        return
    console.print(f"revoked {_describe(revoked)}", highlight=False, soft_wrap=True)


@token_app.command("rotate-admin")
@with_errors_handled
def rotate_admin(output: OutputOption = OutputFormat.text) -> None:
    """Give the admin a new token, written to <data-dir>/admin-token (0600); the old one
    stops working. Run it on the server's machine, with its settings (it opens the
    database, as `shipyard db` does)."""
    # Imported here: SQLAlchemy and Alembic cost ~1 s, which every other command would pay.
    from shipyard.api.bootstrap import rotate_admin_token

    rotated = rotate_admin_token(Settings(), actor=f"local:{getpass.getuser()}")
    path, token_id = rotated.token_file, rotated.token_id
    if output is OutputFormat.json:
        print_json({"token_file": str(path), "token_id": token_id})
        return
    console.print(
        f"wrote a new admin token to {path} (token {token_id}); the previous one no longer works",
        highlight=False,
        soft_wrap=True,
    )
