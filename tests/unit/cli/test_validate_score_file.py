"""`shipyard validate` on a score-file that leaves the component's folder: a located
problem, never a traceback, and nothing of the named file is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app

DESCRIPTOR = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-api
  annotations:
    shipyard.dev/score-file: '{score}'
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
"""


@pytest.mark.parametrize("score", ["/etc/passwd", "../outside.yaml", "../../x/../outside.yaml"])
def test_a_score_file_outside_the_folder_is_a_located_problem(tmp_path: Path, score: str) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "outside.yaml").write_text("containers: {leak: {image: leaked-content}}\n")
    (tmp_path / "svc" / "catalog-info.yaml").write_text(DESCRIPTOR.format(score=score))

    result = CliRunner().invoke(app, ["validate", str(tmp_path / "svc"), "--output", "json"])

    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1, result.stdout
    report = json.loads(result.stdout)
    [problem] = report["problems"]
    assert problem["message"] == f"score file {score!r} is outside the component's folder"
    assert problem["path"] == 'metadata.annotations["shipyard.dev/score-file"]'
    assert problem["line"] == 6
    assert "leaked-content" not in result.stdout
