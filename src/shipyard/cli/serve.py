"""``shipyard serve``: the API under uvicorn, with the proxy, job workers and tag
watchers of :class:`~shipyard.services.runtime.ServerRuntime` beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from shipyard.cli._app import app
from shipyard.cli._client import write_client_config
from shipyard.cli._utilities import EXIT_USAGE, console, exit_with_error, with_errors_handled
from shipyard.settings import LogFormat, Settings

if TYPE_CHECKING:
    from shipyard.api import Startup

__all__: list[str] = []


def _settings(**flags: Any) -> Settings:
    """Flags given on the command line win over ``SHIPYARD_*`` variables."""
    try:
        return Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        exit_with_error(f"invalid setting: {problems}", EXIT_USAGE)


@app.command()
@with_errors_handled
def serve(
    host: Annotated[
        str | None, typer.Option(help="address to listen on [env SHIPYARD_HOST; 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port; 0 picks a free one [env SHIPYARD_PORT; 8000]")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="database, state and admin token [env SHIPYARD_DATA_DIR]")
    ] = None,
    platform: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="platform.yaml to sync [env SHIPYARD_PLATFORM]"
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="job workers to run [env SHIPYARD_WORKERS; 1]")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="console or json [env SHIPYARD_LOG_FORMAT; console]")
    ] = None,
) -> None:
    """Run the Shipyard server: REST API, live events, metrics, job workers and triggers."""
    # Imported here: FastAPI, uvicorn and SQLAlchemy would slow every other command.
    from shipyard.api import create_app
    from shipyard.api.server import bind_socket, socket_url, uvicorn_server
    from shipyard.logs import configure_logging
    from shipyard.services.runtime import ServerRuntime

    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        platform=platform,
        workers=workers,
        log_format=log_format,
    )
    log_format_: LogFormat = settings.log_format
    configure_logging(log_format_)
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        exit_with_error(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}): "
            "stop what uses it or pick another --port"
        )
    url = socket_url(sock)
    runtime = ServerRuntime(settings, workers=settings.workers)

    def announce(startup: Startup) -> None:
        runtime.start()  # after the lifespan migrated the database
        write_client_config(settings.data_dir, url, startup.admin_token_file)
        if startup.admin_token_created:
            console.print(
                f"Admin token written to {startup.admin_token_file}",
                highlight=False,
                soft_wrap=True,
            )
        console.print(f"Shipyard is listening on {url}", highlight=False, soft_wrap=True)

    server = uvicorn_server(create_app(settings, on_startup=announce, on_shutdown=runtime.stop))
    try:
        server.run(sockets=[sock])
    finally:
        runtime.stop()
        sock.close()
    if not server.started:
        exit_with_error("the server did not start: see the log above")
