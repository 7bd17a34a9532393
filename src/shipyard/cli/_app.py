"""The root Typer app every command module registers on."""

from __future__ import annotations

import enum

import typer

__all__ = ["OutputFormat", "app"]


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


app = typer.Typer(
    name="shipyard",
    help="Shipyard: a self-hosted platform orchestrator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
