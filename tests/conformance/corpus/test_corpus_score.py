"""Conformance: every real Score workload in the corpus's score/ folder parses, as read."""

from __future__ import annotations

import pytest
from _corpus import corpus

from shipyard.catalog.score import parse_workload

SCORE = corpus() / "score"
FILES = sorted(p.name for p in SCORE.glob("*.yaml"))


def test_corpus_is_present() -> None:
    assert len(FILES) >= 25


@pytest.mark.parametrize("name", FILES)
def test_corpus_workload_parses(name: str) -> None:
    workload, problems = parse_workload(SCORE / name, name)
    assert problems == []
    assert workload is not None and workload.containers


def test_full_sample() -> None:
    workload, _ = parse_workload(SCORE / "score-spec__spec__samples__score-full.yaml")
    assert workload is not None
    assert [(p.name, p.port, p.target_port) for p in workload.ports] == [
        ("port-one", 1000, 10000),
        ("port-two2", 8000, 8000),  # targetPort defaults to port
    ]
    one, two = workload.containers
    assert one.requests.cpu == "1000m" and one.limits.memory == "128M"
    assert one.liveness_probe is not None and one.liveness_probe.kind == "http"
    assert one.readiness_probe is not None and one.readiness_probe.headers == (
        ("SOME_HEADER", "some-value-here"),
    )
    assert [f.target for f in one.files] == ["/my/file", "/my/other/file", "/my/other/binaryfile"]
    assert two.image is None and two.build is not None and two.build.dockerfile == "Dockerfile"
    assert [(r.name, r.type, r.class_, r.id) for r in workload.resources] == [
        ("resource-one1", "Resource-One", "default", None),
        ("resource-two2", "Resource-Two", None, None),
        ("resource-three", "Type-Three", None, "shared-type-three"),
    ]


def test_placeholders_and_escapes() -> None:
    workload, _ = parse_workload(
        SCORE / "score-spec__score-compose__examples__02-environment__score.yaml"
    )
    assert workload is not None
    (hello,) = workload.containers
    assert hello.variables == {
        "GREETING": "Hello",
        "WORKLOAD_NAME": "hello-world",
        "ESCAPED": "$_${fizzbuzz}",
    }
    assert hello.pending_variables == {"NAME": "${resources.env.NAME}"}


def test_deprecated_array_files() -> None:
    workload, _ = parse_workload(
        SCORE / "score-spec__spec__samples__score-deprecated-files-and-volumes.yaml"
    )
    assert workload is not None
    assert [f.target for f in workload.containers[0].files] == ["/mnt/some-path"]
