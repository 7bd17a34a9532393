"""The generated build has the shape of real ``cloudbuild.yaml`` files (../shared/corpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.catalog.score import BuildSpec
from shipyard.targets.gcp import generated_build

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "corpus" / "cloudbuild"


def corpus() -> list[dict[str, Any]]:
    files = sorted(CORPUS.glob("*.y*ml"))
    if not files:
        pytest.skip(f"no corpus at {CORPUS}")
    return [yaml.safe_load(path.read_text()) for path in files]


def keys(docs: list[dict[str, Any]], pick: Any) -> set[str]:
    return {key for doc in docs for part in pick(doc) for key in part}


def test_generated_build_uses_only_keys_real_files_use() -> None:
    real = corpus()
    ours = generated_build("europe-west1-docker.pkg.dev/p/r/app", BuildSpec(), tags=["shipyard"])
    assert set(ours) <= keys(real, lambda d: [d])
    assert keys([ours], lambda d: d["steps"]) <= keys(real, lambda d: d.get("steps", []))
    assert set(ours["options"]) <= keys(real, lambda d: [d.get("options") or {}])


def test_generated_build_has_the_types_real_files_have() -> None:
    real = corpus()
    ours = generated_build("europe-west1-docker.pkg.dev/p/r/app", BuildSpec(), tags=["shipyard"])
    for doc in [*real, ours]:
        assert isinstance(doc["steps"], list)
        for step in doc["steps"]:
            assert isinstance(step["name"], str)
            assert all(isinstance(arg, str) for arg in step.get("args", []))
        assert all(isinstance(image, str) for image in doc.get("images", []))
    pushes = [s for s in ours["steps"] if s["args"][:1] == ["push"]]
    assert [s["args"][1] for s in pushes] == ours["images"]
    assert ours["images"] == ["europe-west1-docker.pkg.dev/p/r/app:$TAG_NAME"]


def test_a_dockerfile_in_a_subdirectory() -> None:
    ours = generated_build("r/app", BuildSpec(context="api", dockerfile="Dockerfile.prod"), tags=[])
    assert ours["steps"][0]["args"] == [
        "build",
        "-t",
        "r/app:$TAG_NAME",
        "-f",
        "api/Dockerfile.prod",
        "api",
    ]
