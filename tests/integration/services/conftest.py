"""The control plane the use-case tests run against (see ``plane_world``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plane_world import ControlPlane, open_control_plane


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with open_control_plane(tmp_path) as plane:
        yield plane
