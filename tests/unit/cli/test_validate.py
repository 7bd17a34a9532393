"""`shipyard validate`: exit codes, JSON shape, text lines, directories, --platform."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli import app

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
runner = CliRunner()

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-api
  annotations:
    github.com/project-slug: acme/orders-api
    shipyard.dev/template: web-service
    shipyard.dev/gcp-project: acme-orders
    shipyard.dev/prod.region: europe-west9
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
"""


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.stdout


def test_valid_directory_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "catalog-info.yaml").write_text(COMPONENT)
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "catalog-info.yaml").write_text("kind: [")
    code, out = run(str(tmp_path), "--output", "json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True and report["problems"] == []
    assert [e["ref"] for e in report["entities"]] == ["component:default/orders-api"]


def test_invalid_files_exit_one_with_json_problems() -> None:
    name = FIXTURES / "backstage" / "invalid-component.yaml"
    code, out = run(str(name), "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert set(report) == {"valid", "entities", "problems", "warnings"}
    assert report["valid"] is False
    first = report["problems"][0]
    assert set(first) == {"file", "line", "column", "path", "message", "hint"}
    assert (first["line"], first["column"], first["path"]) == (4, 9, "metadata.name")


def test_text_output_lines(tmp_path: Path) -> None:
    skeleton = FIXTURES / "backstage" / "skeleton-cookiecutter.yaml"
    code, out = run(str(skeleton))
    assert code == 1
    assert f"{skeleton}:4:9: this file is a template, not a catalog descriptor" in out
    assert "hint: render the template" in out


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(tmp_path / "nope.yaml"))[0] == 2
    assert run()[0] == 2


def test_platform_contract_violations(tmp_path: Path) -> None:
    descriptor = tmp_path / "catalog-info.yaml"
    descriptor.write_text(COMPONENT)
    code, out = run(
        str(descriptor), "--platform", str(ROOT / "examples" / "platform.yaml"), "-o", "json"
    )
    assert code == 1
    report = json.loads(out)
    (problem,) = report["problems"]
    assert (problem["file"], problem["line"], problem["column"]) == (str(descriptor), 9, 5)
    assert problem["path"] == 'metadata.annotations["shipyard.dev/prod.region"]'
    assert problem["message"] == (
        '"europe-west9" is not allowed in environment prod by template web-service '
        "(allowed: europe-west1, europe-west4)"
    )
    environments = report["entities"][0]["environments"]
    assert environments["dev"]["valid"] is True and len(environments["dev"]["hash"]) == 64
    assert environments["prod"] == {"valid": False, "hash": None}


def test_score_and_platform_files_by_content(tmp_path: Path) -> None:
    score = FIXTURES / "score" / "full.yaml"
    code, _ = run(str(score), str(ROOT / "examples" / "platform.yaml"))
    assert code == 0
    broken = tmp_path / "platform.yaml"
    broken.write_text("apiVersion: shipyard.dev/v1alpha1\nkind: Platform\nenvironments: []\n")
    code, out = run(str(broken), "-o", "json")
    assert code == 1
    assert json.loads(out)["problems"][0]["path"] == "environments"


def test_bad_platform_with_components(tmp_path: Path) -> None:
    (tmp_path / "catalog-info.yaml").write_text(COMPONENT)
    platform = tmp_path / "p.yaml"
    platform.write_text("apiVersion: shipyard.dev/v1alpha1\nkind: Platform\n\tenvironments: []\n")
    code, out = run(str(tmp_path), "--platform", str(platform), "-o", "json")
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert problem["line"] == 3 and "tabs" in problem["hint"]


def test_a_directory_without_descriptors_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no descriptor here\n")

    result = runner.invoke(app, ["validate", str(tmp_path)])

    assert result.exit_code == 2
    assert "no catalog-info.yaml" in result.stderr


def test_text_output_keeps_brackets_in_messages(tmp_path: Path) -> None:
    bad = tmp_path / "catalog-info.yaml"
    bad.write_text(COMPONENT.replace("name: orders-api", "name: orders api"))

    code, out = run(str(bad))

    assert code == 1
    assert "1-63 characters of [a-zA-Z0-9-_.], starting and ending" in " ".join(out.split())


def test_a_missing_location_target_is_a_warning_not_a_problem() -> None:
    location = FIXTURES / "backstage" / "location.yaml"

    code, out = run(str(location), "-o", "json")

    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True and report["problems"] == []
    (warning,) = report["warnings"]
    assert (warning["file"], warning["line"], warning["path"]) == (
        str(location),
        12,
        "spec.targets[2]",
    )
    assert warning["message"] == "Location target './missing-target.yaml' does not exist"
    refs = [e["ref"] for e in report["entities"]]
    assert "location:default/logistics-catalog" in refs
    assert "component:default/parcel-tracker" in refs  # the targets that exist are read


def test_a_missing_location_target_is_printed_as_a_warning() -> None:
    code, out = run(str(FIXTURES / "backstage" / "location.yaml"))

    assert code == 0
    text = " ".join(out.split())
    assert "location.yaml:12:7 spec.targets[2]: warning: Location target" in text
    assert text.endswith("valid: 5 entities, 1 warning")


def test_names_with_doubled_separators_are_valid_as_in_backstage() -> None:
    code, out = run(str(FIXTURES / "backstage" / "consecutive-separators.yaml"), "-o", "json")

    assert code == 0, out
    (entity,) = json.loads(out)["entities"]
    assert entity["ref"] == "component:team--blue/legacy--billing..v2"


def test_setting_formats_apply_without_a_platform(tmp_path: Path) -> None:
    descriptor = tmp_path / "catalog-info.yaml"
    descriptor.write_text(
        COMPONENT.replace(
            "    shipyard.dev/gcp-project: acme-orders\n",
            "    shipyard.dev/gcp-project: acme-orders\n    shipyard.dev/tag-pattern: '^v(\\d+'\n"
            "    shipyard.dev/dev.port: '80x'\n    shipyard.dev/some-platform-setting: '(('\n",
        )
    )

    code, out = run(str(descriptor), "-o", "json")

    assert code == 1
    found = {(p["line"], p["path"]): p["message"] for p in json.loads(out)["problems"]}
    assert found == {
        (9, 'metadata.annotations["shipyard.dev/tag-pattern"]'): (
            '"^v(\\\\d+" is not a valid regex: shipyard.dev/tag-pattern breaks the format '
            "of Shipyard's setting tag-pattern"
        ),
        (10, 'metadata.annotations["shipyard.dev/dev.port"]'): (
            '"80x" is not of type integer: shipyard.dev/dev.port breaks the format of '
            "Shipyard's setting port"
        ),
    }


def test_valid_setting_values_pass_without_a_platform(tmp_path: Path) -> None:
    descriptor = tmp_path / "catalog-info.yaml"
    descriptor.write_text(
        COMPONENT.replace(
            "    shipyard.dev/gcp-project: acme-orders\n",
            "    shipyard.dev/gcp-project: acme-orders\n    shipyard.dev/tag-pattern: '^v\\d+$'\n"
            "    shipyard.dev/port: '8080'\n    shipyard.dev/public: 'true'\n",
        )
    )

    code, out = run(str(descriptor), "-o", "json")

    assert (code, json.loads(out)["problems"]) == (0, [])
