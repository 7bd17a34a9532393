"""Conformance: Backstage's own catalog-model (tests/conformance/backstage_judge.py) and
`shipyard validate` reach the same verdict on every real descriptor of the corpus (Template
entities left out: the scaffolder's backend module judges them)."""

from __future__ import annotations

import pytest
from _corpus import corpus
from backstage_judge import Judge, JudgeUnavailableError

from shipyard.cli.validate import validate_paths

BACKSTAGE = corpus() / "backstage"


def test_corpus_descriptors_get_backstages_verdicts() -> None:
    files = [
        path
        for path in sorted(BACKSTAGE.iterdir())
        if path.is_file() and "kind: Template" not in path.read_text(errors="replace")
    ]
    assert len(files) >= 30
    try:
        judge = Judge()
    except JudgeUnavailableError as exc:
        pytest.fail(str(exc))
    try:
        verdicts = judge.judge([path.read_text() for path in files])
    finally:
        judge.close()
    disagree = []
    for path, verdict in zip(files, verdicts, strict=True):
        report = validate_paths([path])
        valid = not [p for p in report.problems if p.file == str(path)]
        refs = sorted(e["ref"].lower() for e in report.entities if e["file"] == str(path))
        if (valid, refs) != (verdict.valid, sorted(ref.lower() for ref in verdict.refs)):
            disagree.append((path.name, valid, refs, verdict.documents))
    assert disagree == []
