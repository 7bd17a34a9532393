"""A throwaway PostgreSQL cluster on a free loopback port, for tests and benchmarks.

Needs the server binaries (``initdb``, ``pg_ctl``): Debian's ``postgresql`` package, which
``scripts/setup-postgres.sh`` installs. PostgreSQL refuses to run as root, so as root the
cluster runs as the ``postgres`` user (through ``runuser``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shipyard.errors import ShipyardError

__all__ = ["PostgresCluster", "PostgresUnavailableError", "find_bindir", "throwaway_cluster"]

_SERVER_USER = "postgres"
_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
"""


class PostgresUnavailableError(ShipyardError):
    """No PostgreSQL server binaries, or the throwaway cluster would not start."""


@dataclass(frozen=True, slots=True)
class PostgresCluster:
    url: str
    """SQLAlchemy URL of the cluster's ``postgres`` database (superuser, no password)."""

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for the duration; yields its URL."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(self.url).set(database=name).render_as_string(hide_password=False)
        finally:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def database_with_password(self, password: str) -> Iterator[str]:
        """A fresh database owned by a role of its own with ``password``; yields its URL,
        password included. The cluster trusts loopback connections, so the password is
        carried rather than checked: enough for tests of where secrets end up."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        quoted = password.replace("'", "''")
        self._admin(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{quoted}'")
        try:
            self._admin(f'CREATE DATABASE "{name}" OWNER "{name}"')
            try:
                url = make_url(self.url).set(database=name, username=name, password=password)
                yield url.render_as_string(hide_password=False)
            finally:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            self._admin(f'DROP ROLE IF EXISTS "{name}"')

    def _admin(self, statement: str) -> None:
        database = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        try:
            with database.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            database.dispose()


def find_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: ``$PG_BINDIR``, PATH, or Debian's layout."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(str(path) for path in debian)
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailableError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found in $PG_BINDIR, on PATH or under "
        "/usr/lib/postgresql/*/bin: run scripts/setup-postgres.sh"
    )


@contextmanager
def throwaway_cluster(*, start_tries: int = 3) -> Iterator[PostgresCluster]:
    """Start a fresh cluster in a temporary directory; stop and delete it afterwards."""
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    if as_root:
        shutil.chown(base, user=_SERVER_USER, group=_SERVER_USER)
    data = base / "data"
    try:
        _run(
            as_root,
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )
        port = _start(as_root, bindir, data, base / "server.log", start_tries)
        try:
            yield PostgresCluster(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        finally:
            _run(
                as_root, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(as_root: bool, bindir: Path, data: Path, log: Path, tries: int) -> int:
    failure = ""
    for _ in range(tries):
        port = _free_port()
        config = data / "postgresql.auto.conf"
        config.write_text(_CONFIG.format(port=port))
        if as_root:
            shutil.chown(config, user=_SERVER_USER, group=_SERVER_USER)
        command = [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "start",
        ]
        try:
            _run(as_root, command)
        except PostgresUnavailableError as exc:
            failure = f"{exc}\n{log.read_text() if log.exists() else ''}"
            continue
        return port
    raise PostgresUnavailableError(f"the throwaway PostgreSQL would not start: {failure}")


def _run(as_root: bool, command: list[str]) -> None:
    if as_root:
        command = ["runuser", "-u", _SERVER_USER, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise PostgresUnavailableError(
            f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
