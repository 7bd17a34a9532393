"""Score workloads: the fixtures parse; placeholders, ports, builds and errors are located."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.catalog.score import default_workload, parse_workload, parse_workload_text

SCORE = Path(__file__).parents[2] / "fixtures" / "score"
FILES = sorted(p.name for p in SCORE.glob("*.yaml"))


def test_fixtures_are_present() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("name", FILES)
def test_fixture_workload_parses(name: str) -> None:
    workload, problems = parse_workload(SCORE / name, name)
    assert problems == []
    assert workload is not None and workload.containers


def test_full_sample() -> None:
    workload, _ = parse_workload(SCORE / "full.yaml")
    assert workload is not None
    assert [(p.name, p.port, p.target_port) for p in workload.ports] == [
        ("web", 80, 8080),
        ("metrics", 9100, 9100),  # targetPort defaults to port
    ]
    api, worker = workload.containers
    assert api.requests.cpu == "250m" and api.limits.memory == "1G"
    assert api.liveness_probe is not None and api.liveness_probe.kind == "http"
    assert api.readiness_probe is not None and api.readiness_probe.headers == (
        ("X-Probe", "readiness"),
    )
    assert [f.target for f in api.files] == [
        "/etc/parcel/settings.toml",
        "/etc/parcel/motd",
        "/etc/parcel/key.bin",
    ]
    assert worker.image is None and worker.build is not None
    assert worker.build.dockerfile == "Dockerfile"
    assert [(r.name, r.type, r.class_, r.id) for r in workload.resources] == [
        ("db", "postgres", "large", None),
        ("cache", "volume", None, None),
        ("events", "amqp", None, "shared-events"),
    ]


def test_placeholders_and_escapes() -> None:
    workload, _ = parse_workload(SCORE / "environment.yaml")
    assert workload is not None
    (main,) = workload.containers
    assert main.variables == {
        "GREETING": "Good morning",
        "WORKLOAD": "greeter",
        "LITERAL": "cost $5 and ${not.a.placeholder}",
    }
    assert main.pending_variables == {"WHO": "${resources.env.WHO}"}


def test_deprecated_array_files() -> None:
    workload, _ = parse_workload(SCORE / "files-as-list.yaml")
    assert workload is not None
    assert [f.target for f in workload.containers[0].files] == ["/usr/share/nginx/html/index.html"]


def test_bad_placeholders_are_located() -> None:
    text = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: app}\ncontainers:\n  main:\n"
        "    image: nginx\n    variables:\n      A: ${resources.db.host}\n"
        "      B: ${oops}\n      C: ${metadata.nope}\n      D: x${unterminated\n"
    )
    workload, problems = parse_workload_text(text, "score.yaml")
    assert workload is None
    found = [(p.line, p.path, p.message) for p in problems]
    assert found[0][:2] == (7, "containers.main.variables.A")
    assert "undeclared resource 'db'" in found[0][2]
    assert found[1][:2] == (8, "containers.main.variables.B")
    assert "is not a Score placeholder" in found[1][2]
    assert found[2][:2] == (9, "containers.main.variables.C")
    assert found[3][:2] == (10, "containers.main.variables.D")
    assert "unterminated" in found[3][2]


def test_schema_errors_are_located_in_plain_words() -> None:
    text = (
        "apiVersion: score.dev/v1b2\nmetadata: {name: app}\ncontainers:\n  main:\n"
        "    imag: nginx\nservice:\n  ports:\n    web: {port: 99999}\n"
    )
    _, problems = parse_workload_text(text, "score.yaml")
    found = {(p.line, p.column, p.path): p.message for p in problems}
    assert found[(1, 13, "apiVersion")].startswith('"score.dev/v1b2" does not match')
    assert found[(5, 5, "containers.main.imag")] == "unknown field 'imag'"
    assert found[(5, 5, "containers.main.image")] == "image is required"
    assert found[(8, 17, "service.ports.web.port")] == "99999 is above the maximum 65535"


def test_default_workload() -> None:
    workload = default_workload("orders-api")
    (container,) = workload.containers
    assert container.build is not None and container.image is None
    assert [(p.port, p.target_port) for p in workload.ports] == [(8080, 8080)]
    assert workload.default


def test_empty_and_multi_document_files() -> None:
    assert parse_workload_text("# nothing\n", "s.yaml")[1][0].message == (
        "the file holds no Score workload"
    )
    two = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: ab}\ncontainers: {ab: {image: x}}\n"
        "---\na: 1\n"
    )
    workload, problems = parse_workload_text(two, "s.yaml")
    assert workload is None and problems[0].line == 5
