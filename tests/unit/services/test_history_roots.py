"""The tags view reads a local source's repository only under the source roots."""

from __future__ import annotations

from pathlib import Path

from shipyard.catalog import load_components, load_platform, resolve
from shipyard.services.history import _repository_of
from shipyard.settings import Settings
from shipyard.testing.samples import write_component, write_platform


def test_a_local_source_outside_the_roots_is_not_read(tmp_path: Path) -> None:
    platform = load_platform(write_platform(tmp_path / "platform.yaml"))
    outside = tmp_path / "outside"
    (component,) = load_components(write_component(tmp_path / "c", "c-api", source=outside))
    desired = resolve(component, platform.environments[0], platform)

    closed = Settings(data_dir=tmp_path / "data", source_roots=[tmp_path / "c"])
    opened = Settings(data_dir=tmp_path / "data", source_roots=[tmp_path])
    assert _repository_of(closed, desired) is None
    assert _repository_of(Settings(data_dir=tmp_path / "data"), desired) is None
    assert _repository_of(opened, desired) == outside
