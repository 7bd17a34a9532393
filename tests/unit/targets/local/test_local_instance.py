"""A Shipyard's instance id: made once in its data dir, kept, the same for every process,
and a broken file refused with the way out; the labels that carry it."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.targets.local.instance import INSTANCE_FILE, InstanceIdError, instance_id
from shipyard.targets.local.labels import INSTANCE, shipyard_labels


def test_made_once_then_kept(tmp_path: Path) -> None:
    first = instance_id(tmp_path / "data")

    assert re.fullmatch(r"[0-9a-f]{10}", first)
    assert (tmp_path / "data" / INSTANCE_FILE).read_text().strip() == first
    assert instance_id(tmp_path / "data") == first
    assert instance_id(tmp_path / "other") != first
    assert [p.name for p in (tmp_path / "data").iterdir()] == [INSTANCE_FILE]


def test_processes_racing_for_a_new_data_dir_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: instance_id(tmp_path), range(32)))

    assert len(ids) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [INSTANCE_FILE]


def test_a_broken_file_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / INSTANCE_FILE).write_text("../../etc\n")

    with pytest.raises(InstanceIdError, match="delete the file to get a new one"):
        instance_id(tmp_path)


def test_labels_carry_the_instance() -> None:
    assert shipyard_labels("default/a", instance="i1", environment="dev") == {
        INSTANCE: "i1",
        "shipyard.dev/component": "default/a",
        "shipyard.dev/environment": "dev",
    }
