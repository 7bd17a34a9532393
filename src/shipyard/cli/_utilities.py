"""Helpers shared by CLI commands: JSON output and the one place errors become exits."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.errors import ShipyardError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "console",
    "err_console",
    "exit_with_error",
    "handle_errors",
    "print_json",
    "with_errors_handled",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Print one JSON object on stdout, nothing else (scripts parse it)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def exit_with_error(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn Shipyard's own errors into a one-line message and a non-zero exit: the error's
    ``exit_code`` attribute if it has one (see ``cli/_client.py``), else 1."""
    try:
        yield
    except ShipyardError as exc:
        exit_with_error(str(exc), getattr(exc, "exit_code", EXIT_FAILURE))


def with_errors_handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator form of :func:`handle_errors` for command functions."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with handle_errors():
            return fn(*args, **kwargs)

    return wrapper
