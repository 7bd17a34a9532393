"""The data dir a server creates is its owner's only: the folder 0700; the database, the
admin token, the Pulumi passphrase and the client config 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shipyard.api.bootstrap import ADMIN_TOKEN_FILE, bootstrap
from shipyard.cli._client import write_client_config
from shipyard.engine._environment import ensure_passphrase_file
from shipyard.settings import Settings
from shipyard.store import open_database


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_and_its_secrets_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "home" / "shipyard")
    old = os.umask(0o022)  # a usual umask: what Shipyard creates must not follow it
    try:
        database = open_database(settings)
        try:
            startup = bootstrap(settings, database)
        finally:
            database.dispose()
        passphrase = ensure_passphrase_file(settings.data_dir)
        client = write_client_config(
            settings.data_dir, "http://127.0.0.1:1", startup.admin_token_file
        )
    finally:
        os.umask(old)
    data = settings.data_dir
    assert _mode(data) == 0o700
    assert startup.admin_token_file == data / ADMIN_TOKEN_FILE
    for private in (data / "shipyard.db", startup.admin_token_file, passphrase, client):
        assert _mode(private) == 0o600, private
    for path in data.rglob("*"):
        if path.is_file():
            assert _mode(path) & 0o077 == 0, f"{path} is readable by others"


def test_an_existing_open_data_dir_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "shipyard.db").touch(mode=0o644)
    (data / "shipyard.db").chmod(0o644)
    settings = Settings(data_dir=data)
    database = open_database(settings)
    try:
        bootstrap(settings, database)
    finally:
        database.dispose()
    assert _mode(data) == 0o700
    assert _mode(data / "shipyard.db") == 0o600
