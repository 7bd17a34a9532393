"""The generated build has the shape of real ``cloudbuild.yaml`` files: the project's own
configs in tests/fixtures/cloudbuild and the documented build config schema. Third-party
files are checked in the conformance run (tests/conformance/corpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipyard.catalog.score import BuildSpec
from shipyard.targets.gcp import generated_build

FIXTURES = Path(__file__).parents[3] / "fixtures" / "cloudbuild"

# The fields of a build config as Cloud Build documents them ("Build configuration file
# schema"): anything else is refused by `gcloud builds submit`.
BUILD_KEYS = {
    "steps",
    "timeout",
    "queueTtl",
    "logsBucket",
    "options",
    "substitutions",
    "tags",
    "serviceAccount",
    "secrets",
    "availableSecrets",
    "artifacts",
    "images",
}
STEP_KEYS = {
    "name",
    "args",
    "env",
    "allowFailure",
    "allowExitCodes",
    "dir",
    "id",
    "waitFor",
    "entrypoint",
    "secretEnv",
    "volumes",
    "timeout",
    "script",
    "automapSubstitutions",
}
OPTION_KEYS = {
    "env",
    "secretEnv",
    "volumes",
    "sourceProvenanceHash",
    "machineType",
    "diskSizeGb",
    "substitutionOption",
    "dynamicSubstitutions",
    "automapSubstitutions",
    "logStreamingOption",
    "logging",
    "defaultLogsBucketBehavior",
    "pool",
    "requestedVerifyOption",
}


def configs() -> list[dict[str, Any]]:
    files = sorted(FIXTURES.glob("*.yaml"))
    assert len(files) >= 4, f"the fixtures are missing from {FIXTURES}"
    return [yaml.safe_load(path.read_text()) for path in files]


def keys(docs: list[dict[str, Any]], pick: Any) -> set[str]:
    return {key for doc in docs for part in pick(doc) for key in part}


def ours() -> dict[str, Any]:
    return generated_build("europe-west1-docker.pkg.dev/p/r/app", BuildSpec(), tags=["shipyard"])


def test_fixtures_use_documented_keys_only() -> None:
    real = configs()
    assert keys(real, lambda d: [d]) <= BUILD_KEYS
    assert keys(real, lambda d: d["steps"]) <= STEP_KEYS
    assert keys(real, lambda d: [d.get("options") or {}]) <= OPTION_KEYS


def test_generated_build_uses_only_keys_real_files_use() -> None:
    real, generated = configs(), ours()
    assert set(generated) <= keys(real, lambda d: [d])
    assert keys([generated], lambda d: d["steps"]) <= keys(real, lambda d: d.get("steps", []))
    assert set(generated["options"]) <= keys(real, lambda d: [d.get("options") or {}])


def test_generated_build_has_the_types_real_files_have() -> None:
    real, generated = configs(), ours()
    for doc in [*real, generated]:
        assert isinstance(doc["steps"], list)
        for step in doc["steps"]:
            assert isinstance(step["name"], str)
            assert all(isinstance(arg, str) for arg in step.get("args", []))
        assert all(isinstance(image, str) for image in doc.get("images", []))
        assert isinstance(doc.get("timeout", "1s"), str) and doc.get("timeout", "1s")[-1] == "s"
    pushes = [s for s in generated["steps"] if s["args"][:1] == ["push"]]
    assert [s["args"][1] for s in pushes] == generated["images"]
    assert generated["images"] == ["europe-west1-docker.pkg.dev/p/r/app:$TAG_NAME"]


def test_a_dockerfile_in_a_subdirectory() -> None:
    generated = generated_build(
        "r/app", BuildSpec(context="api", dockerfile="Dockerfile.prod"), tags=[]
    )
    assert generated["steps"][0]["args"] == [
        "build",
        "-t",
        "r/app:$TAG_NAME",
        "-f",
        "api/Dockerfile.prod",
        "api",
    ]
