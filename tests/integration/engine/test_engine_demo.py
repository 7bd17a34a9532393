"""``shipyard engine demo`` (what ``make run`` shows until the server exists)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.engine.toolchain import PulumiCli

pytestmark = pytest.mark.integration


def test_the_demo_ups_twice_and_the_second_up_changes_nothing(
    data_dir: Path, pulumi_cli: PulumiCli
) -> None:
    env = {"SHIPYARD_DATA_DIR": str(data_dir), "SHIPYARD_PULUMI": str(pulumi_cli.path)}

    done = CliRunner().invoke(app, ["engine", "demo", "--output", "json"], env=env)

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout[done.stdout.index("{") :])
    first, second = report["runs"]
    assert first["changes"] == {"create": 2}
    assert second == {**second, "changed": False, "changes": {"same": 2}}
    greeting = Path(second["outputs"]["path"])
    assert greeting.is_relative_to(data_dir)
    assert greeting.read_text().startswith("Hello from Shipyard")
    assert any(e["kind"] == "resource_step" for e in first["events"])
