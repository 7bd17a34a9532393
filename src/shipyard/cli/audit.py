"""``shipyard audit``: read the audit log through the API (admin)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._client import ApiClient, ServerOption, TokenOption, connect
from shipyard.cli._durations import parse_duration
from shipyard.cli._utilities import console, print_json, with_errors_handled
from shipyard.clock import utc_now

__all__: list[str] = []


def _time(value: str | None, option: str) -> str | None:
    """An RFC 3339 time as given, or a duration (``2h``) meaning that long ago."""
    if value is None or not value[:1].isdigit() or "-" in value or ":" in value:
        return value
    return (utc_now() - parse_duration(value, option=option)).isoformat()


def _line(record: dict[str, Any]) -> str:
    on = record["component"] or (
        f"{record['subject_type']} {record['subject_id']}" if record["subject_id"] else "-"
    )
    return (
        f"{record['created_at']}\t{record['actor'] or '-'}\t{record['action']}\t{on}\t"
        f"{record['result'] or '-'} {record['status_code'] or ''}\t{record['address'] or '-'}\t"
        f"{record['request_id'] or '-'}"
    )


@app.command("audit")
@with_errors_handled
def audit(
    actor: Annotated[
        str | None, typer.Option("--actor", help="who (a user's name, anonymous)")
    ] = None,
    component: Annotated[str | None, typer.Option("--component", help="namespace/name")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="e.g. deployment.create; 'token.' matches a prefix"),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="RFC 3339 time, or a duration ago (2h, 7d)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="RFC 3339 time, or a duration ago")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="records")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="skip this many")] = 0,
    output: OutputOption = OutputFormat.text,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """The audit log, newest first: who did what, on what, when, from where, how it ended."""
    params = {
        key: value
        for key, value in (
            ("actor", actor),
            ("component", component),
            ("action", action),
            ("since", _time(since, "--since")),
            ("until", _time(until, "--until")),
        )
        if value is not None
    }
    with ApiClient(connect(server, token)) as client:
        page = client.get("/audit", limit=limit, offset=offset, **params)
    if output is OutputFormat.json:
        print_json(page)
        return
    for record in page["items"]:
        console.print(_line(record), highlight=False, soft_wrap=True)
    if page["next_offset"] is not None:
        console.print(f"(more: --offset {page['next_offset']})", highlight=False)
