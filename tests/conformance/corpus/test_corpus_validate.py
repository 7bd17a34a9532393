"""Conformance: `shipyard validate` on the corpus's real files (exit codes, located output)."""

from __future__ import annotations

import json

from _corpus import corpus
from typer.testing import CliRunner

from shipyard.cli import app

CORPUS = corpus()
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.stdout


def test_invalid_component_exits_one_with_json_problems() -> None:
    name = (
        CORPUS
        / "backstage"
        / (
            "backstage__backstage__packages__catalog-model__examples__components__"
            "invalid-component.yaml"
        )
    )
    code, out = run(str(name), "-o", "json")
    assert code == 1
    first = json.loads(out)["problems"][0]
    assert (first["line"], first["column"], first["path"]) == (4, 9, "metadata.name")


def test_every_score_workload_is_valid() -> None:
    files = sorted((CORPUS / "score").glob("*.yaml"))
    code, out = run(*map(str, files), "-o", "json")
    assert (code, json.loads(out)["problems"]) == (0, [])
