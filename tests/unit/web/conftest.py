"""The app served by a real uvicorn on loopback (SQLite), signed in to as a browser would:
an httpx client that keeps cookies and follows no redirect on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing.api import Api, serve_sqlite_api

ServeWeb = Callable[..., AbstractContextManager[Api]]


@pytest.fixture
def serve_web(tmp_path: Path) -> ServeWeb:
    """``serve_web(**settings)``: the app with these extra settings (e.g. OIDC's)."""

    @contextmanager
    def serve(**options: Any) -> Iterator[Api]:
        with serve_sqlite_api(tmp_path, **options) as api:
            yield api

    return serve


@pytest.fixture
def web(serve_web: ServeWeb) -> Iterator[Api]:
    with serve_web() as api:
        yield api
