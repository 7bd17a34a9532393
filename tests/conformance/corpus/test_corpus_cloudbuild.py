"""Conformance: the generated build has the shape of the corpus's real ``cloudbuild.yaml``
files (only keys they use, with the types they have)."""

from __future__ import annotations

from typing import Any

import yaml
from _corpus import corpus

from shipyard.catalog.score import BuildSpec
from shipyard.targets.gcp import generated_build

CLOUDBUILD = corpus() / "cloudbuild"


def real() -> list[dict[str, Any]]:
    files = sorted(CLOUDBUILD.glob("*.y*ml"))
    assert len(files) >= 10, f"no Cloud Build configs in {CLOUDBUILD}"
    return [yaml.safe_load(path.read_text()) for path in files]


def keys(docs: list[dict[str, Any]], pick: Any) -> set[str]:
    return {key for doc in docs for part in pick(doc) for key in part}


def ours() -> dict[str, Any]:
    return generated_build("europe-west1-docker.pkg.dev/p/r/app", BuildSpec(), tags=["shipyard"])


def test_generated_build_uses_only_keys_real_files_use() -> None:
    docs, generated = real(), ours()
    assert set(generated) <= keys(docs, lambda d: [d])
    assert keys([generated], lambda d: d["steps"]) <= keys(docs, lambda d: d.get("steps", []))
    assert set(generated["options"]) <= keys(docs, lambda d: [d.get("options") or {}])


def test_real_files_have_the_types_the_generated_build_has() -> None:
    for doc in [*real(), ours()]:
        assert isinstance(doc["steps"], list)
        for step in doc["steps"]:
            assert isinstance(step["name"], str)
            assert all(isinstance(arg, str) for arg in step.get("args", []))
        assert all(isinstance(image, str) for image in doc.get("images", []))
