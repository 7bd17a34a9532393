"""``shipyard worker``: job workers only, for more machines sharing one PostgreSQL.

Like ``shipyard serve``, it runs where the database is reachable, and migrates it first.
SIGTERM or SIGINT stops claiming; running jobs get ``--shutdown-grace`` seconds to
finish, then are cancelled and given back to the queue.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._app import app
from shipyard.cli._utilities import EXIT_USAGE, exit_with_error, with_errors_handled
from shipyard.settings import Settings

__all__: list[str] = []


@app.command("worker")
@with_errors_handled
def worker(
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="worker threads; default: SHIPYARD_WORKERS, at least 1"
        ),
    ] = None,
    lease_seconds: Annotated[
        float,
        typer.Option(
            min=1.0,
            envvar="SHIPYARD_WORKER_LEASE_SECONDS",
            help="a job whose worker has not renewed its lease this long runs again",
        ),
    ] = 30.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            min=0.01,
            envvar="SHIPYARD_WORKER_POLL_INTERVAL",
            help="seconds between polls of the queue (and of a running job's cancel flag)",
        ),
    ] = 1.0,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            min=0.0,
            envvar="SHIPYARD_WORKER_SHUTDOWN_GRACE",
            help="on SIGTERM/SIGINT, seconds running jobs get to finish before a cancel",
        ),
    ] = 30.0,
    handler: Annotated[
        list[str] | None,
        typer.Option(
            "--handler",
            metavar="KIND=MODULE:FUNCTION",
            help="run jobs of KIND with this function instead (repeatable)",
        ),
    ] = None,
) -> None:
    """Run job workers until SIGTERM/SIGINT (SHIPYARD_DATABASE_URL names the queue)."""
    # Imported here: the store, the engine's process tools and logging setup are heavy.
    import signal
    import threading

    import structlog

    from shipyard.jobs.handlers import default_registry
    from shipyard.jobs.worker import run_workers
    from shipyard.logs import configure_logging
    from shipyard.services.handlers import register_handlers
    from shipyard.services.targets import for_jobs
    from shipyard.store import open_database, upgrade

    settings = Settings()
    configure_logging(settings.log_format)
    registry = register_handlers(default_registry().copy())
    for override in handler or []:
        kind, sep, target = override.partition("=")
        if not sep:
            exit_with_error(f"--handler {override!r}: expected KIND=module:function", EXIT_USAGE)
        registry.register(kind.strip(), target.strip())
    database = open_database(settings)
    try:
        upgrade(database)
    finally:
        database.dispose()

    stop = threading.Event()
    log = structlog.get_logger("shipyard.worker")

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    count = workers or max(settings.workers, 1)
    log.info("workers starting", count=count, handlers=dict(registry))
    run_workers(
        for_jobs(settings),
        count,
        stop,
        handlers=registry,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        shutdown_grace=shutdown_grace,
    )
    log.info("workers stopped")
