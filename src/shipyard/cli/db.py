"""``shipyard db``: the operator's commands on Shipyard's own database.

The one command group that opens the database itself: it runs where the server would,
before the server (which also migrates at start) is up.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._utilities import console, print_json, with_errors_handled
from shipyard.settings import Settings

__all__ = ["DatabaseCheck", "check_database", "masked_url", "writable_dir"]

db_app = typer.Typer(help="Shipyard's own database (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def masked_url(url: str) -> str:
    """``url`` as it may be shown: its password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
@with_errors_handled
def db_upgrade(output: OutputOption = OutputFormat.text) -> None:
    """Migrate the database to the newest schema (SHIPYARD_DATABASE_URL); safe to rerun."""
    # Imported here: SQLAlchemy and Alembic cost ~1 s, which every other command would pay.
    from shipyard.store import open_database, upgrade

    settings = Settings()
    shown = masked_url(settings.sqlalchemy_url)
    database = open_database(settings)
    try:
        revision = upgrade(database)
    finally:
        database.dispose()
    if output is OutputFormat.json:
        print_json({"database": shown, "revision": revision})
    else:
        console.print(f"{shown}: schema at revision {revision}", highlight=False)


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    ok: bool
    required: bool
    """False for a warning: Shipyard still works (e.g. ``serve`` migrates at start)."""
    value: str
    detail: str
    fix: str | None = None


def check_database(settings: Settings) -> DatabaseCheck:
    """``shipyard doctor``'s check: connect, and compare the schema's migration level
    with this Shipyard's newest; the URL shown with its password masked."""
    # Imported here: SQLAlchemy and Alembic cost ~1 s, which other commands need not pay.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from shipyard.store import open_database
    from shipyard.store.migrate import current_revision, head_revision

    url = make_url(settings.sqlalchemy_url)
    shown = masked_url(settings.sqlalchemy_url)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            if writable_dir(path.parent):
                return DatabaseCheck(True, True, shown, "no database yet: created at first start")
            return DatabaseCheck(
                False,
                True,
                shown,
                f"{path.parent} is not writable: the database cannot be created",
                "set SHIPYARD_DATABASE_URL (or SHIPYARD_DATA_DIR) to a place you can write",
            )
    options: dict[str, object] = {} if sqlite else {"connect_args": {"connect_timeout": 5}}
    database = open_database(settings, **options)
    try:
        current = current_revision(database)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = _without_password(" ".join(str(cause).split()), url.password)
        return DatabaseCheck(
            False,
            True,
            shown,
            f"cannot connect: {reason}",
            "start the database or fix SHIPYARD_DATABASE_URL (host, port, user, password)",
        )
    finally:
        database.dispose()
    head = head_revision()
    if current == head:
        return DatabaseCheck(True, True, shown, f"schema at the newest revision ({head})")
    if current is None:
        return DatabaseCheck(
            False,
            False,
            shown,
            f"no Shipyard schema yet (newest: {head}); `shipyard serve` migrates at start",
            "shipyard db upgrade",
        )
    if current in _revisions_before(head):
        return DatabaseCheck(
            False,
            False,
            shown,
            f"schema at revision {current}, behind this Shipyard's {head}; `shipyard serve` "
            "migrates at start",
            "shipyard db upgrade",
        )
    return DatabaseCheck(
        False,
        True,
        shown,
        f"schema at revision {current}, which this Shipyard does not know (newest: {head}): "
        "a newer Shipyard migrated it",
        "run the Shipyard version that migrated this database, or upgrade this one",
    )


def _revisions_before(head: str) -> set[str]:
    from alembic.script import ScriptDirectory

    from shipyard.store.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions(head=head)} - {head}


def _without_password(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text


def writable_dir(path: Path) -> bool:
    """A file can be made in ``path`` (or, while it does not exist, in its nearest existing
    parent, where Shipyard would create it): a probe written and removed, not the mode bits,
    which say nothing for root or on a read-only mount."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".shipyard-doctor-"):
            pass
    except OSError:
        return False
    return True
