"""The app served by a real uvicorn on loopback (SQLite), signed in to as a browser would:
an httpx client that keeps cookies and follows no redirect on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.testing.api import Api, serve_api
from shipyard.testing.samples import write_platform

ServeWeb = Callable[..., AbstractContextManager[Api]]


@pytest.fixture
def serve_web(tmp_path: Path) -> ServeWeb:
    """``serve_web(**settings)``: the app with these extra settings (e.g. OIDC's)."""

    @contextmanager
    def serve(**options: Any) -> Iterator[Api]:
        url = f"sqlite:///{tmp_path / 'shipyard.db'}"
        settings = Settings(
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            database_url=url,
            platform=write_platform(tmp_path / "platform.yaml"),
            **options,
        )
        database = open_database(url)
        try:
            with serve_api(settings, database) as api:
                yield api
        finally:
            database.dispose()

    return serve


@pytest.fixture
def web(serve_web: ServeWeb) -> Iterator[Api]:
    with serve_web() as api:
        yield api
