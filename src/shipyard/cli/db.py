"""``shipyard db``: the operator's commands on Shipyard's own database.

The one command group that opens the database itself: it runs where the server would,
before the server (which also migrates at start) is up.
"""

from __future__ import annotations

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._utilities import console, print_json, with_errors_handled
from shipyard.settings import Settings

__all__: list[str] = []

db_app = typer.Typer(help="Shipyard's own database (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@with_errors_handled
def db_upgrade(output: OutputOption = OutputFormat.text) -> None:
    """Migrate the database to the newest schema (SHIPYARD_DATABASE_URL); safe to rerun."""
    # Imported here: SQLAlchemy and Alembic cost ~1 s, which every other command would pay.
    from sqlalchemy.engine import make_url

    from shipyard.store import create_engine, upgrade

    settings = Settings()
    database = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    engine = create_engine(settings)
    try:
        revision = upgrade(engine)
    finally:
        engine.dispose()
    if output is OutputFormat.json:
        print_json({"database": database, "revision": revision})
    else:
        console.print(f"{database}: schema at revision {revision}", highlight=False)
