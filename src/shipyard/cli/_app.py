"""The root Typer app every command module registers on."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

__all__ = ["OutputFormat", "OutputOption", "app"]


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="text for people, json (one object) for scripts"),
]
"""The ``--output`` option every command takes: ``output: OutputOption = OutputFormat.text``."""


app = typer.Typer(
    name="shipyard",
    help="Shipyard: a self-hosted platform orchestrator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
