"""The CLI is an API client: loading it imports neither the database nor the server."""

from __future__ import annotations

import subprocess
import sys

SERVER_SIDE = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "prometheus_client")


def test_loading_the_cli_imports_no_server_side_library() -> None:
    probe = f"import sys, shipyard.cli; print([m for m in {SERVER_SIDE!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
