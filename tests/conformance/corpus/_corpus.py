"""Where the conformance corpus is: ``SHIPYARD_CONFORMANCE_CORPUS`` (docs/conformance.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "SHIPYARD_CONFORMANCE_CORPUS"
NOT_RUN = (
    f"conformance run not done: {ENV} is not set (set it to a corpus folder, e.g. "
    f"{ENV}=../shared/corpus; .ci/run sets it when that folder exists; see docs/conformance.md)"
)


def configured() -> Path | None:
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def corpus() -> Path:
    """The corpus folder; skips the calling module when the run was not asked for."""
    root = configured()
    if root is None:
        pytest.skip(NOT_RUN, allow_module_level=True)
    return root
