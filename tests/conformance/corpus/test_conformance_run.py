"""The one place that says whether the conformance run was done, and that its corpus is whole."""

from __future__ import annotations

from _corpus import ENV, corpus


def test_conformance_corpus_is_present() -> None:
    root = corpus()
    missing = [name for name in ("backstage", "score", "cloudbuild") if not (root / name).is_dir()]
    assert not missing, f"{ENV}={root} has no {', '.join(missing)} folder(s)"
