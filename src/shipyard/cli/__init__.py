"""Shipyard's command line: one module per command group on one root app."""

from __future__ import annotations

from shipyard.cli import audit as _audit  # noqa: F401  (registers commands)
from shipyard.cli import component as _component  # noqa: F401  (registers commands)
from shipyard.cli import db as _db  # noqa: F401  (registers commands)
from shipyard.cli import deploy as _deploy  # noqa: F401  (registers commands)
from shipyard.cli import doctor as _doctor  # noqa: F401  (registers commands)
from shipyard.cli import engine as _engine  # noqa: F401  (registers commands)
from shipyard.cli import operations as _operations  # noqa: F401  (registers commands)
from shipyard.cli import render as _render  # noqa: F401  (registers commands)
from shipyard.cli import serve as _serve  # noqa: F401  (registers commands)
from shipyard.cli import subscription as _subscription  # noqa: F401  (registers commands)
from shipyard.cli import token as _token  # noqa: F401  (registers commands)
from shipyard.cli import validate as _validate  # noqa: F401  (registers commands)
from shipyard.cli import webhook as _webhook  # noqa: F401  (registers commands)
from shipyard.cli import worker as _worker  # noqa: F401  (registers commands)
from shipyard.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
