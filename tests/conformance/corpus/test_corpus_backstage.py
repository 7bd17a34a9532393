"""Conformance: every real descriptor in the corpus's backstage/ folder: valid ones parse,
invalid ones are rejected with located problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from _corpus import corpus

from shipyard.catalog.backstage import Component, read_catalog, read_descriptor
from shipyard.testing.descriptors import (
    Located,
    assert_parses,
    assert_rejected_with_locations,
    located_problems,
)

CORPUS = corpus()

BACKSTAGE = CORPUS / "backstage"
INVALID = {
    "OS2mo__os2mo__.backstage__graphql_api.yaml",  # an API without spec.definition
    "backstage__backstage__packages__catalog-model__examples__components__invalid-component.yaml",
    "backstage__backstage__packages__catalog-model__examples__hello-world-api.yaml",
    "backstage__software-templates__scaffolder-templates__docs-template-cookiecutter__skeleton__catalog-info.yaml",
    "backstage__software-templates__scaffolder-templates__springboot-grpc-template__skeleton__catalog-info.yaml",
    "im-open__validate-catalog-info__test__catalog-infos__invalid-entities.yml",
    "incident-io__catalog-importer__docs__backstage__catalog-info.yaml",
}
FILES = sorted(p.name for p in BACKSTAGE.iterdir())


def test_corpus_is_present() -> None:
    assert len(FILES) >= 30
    assert set(FILES) >= INVALID


@pytest.mark.parametrize("name", sorted(set(FILES) - INVALID))
def test_valid_descriptor_parses(name: str) -> None:
    assert_parses(BACKSTAGE, name)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_descriptor_is_rejected_with_locations(name: str) -> None:
    assert_rejected_with_locations(BACKSTAGE, name)


def _problems(name: str) -> list[Located]:
    return located_problems(BACKSTAGE, name)


def test_invalid_component_name_and_tag() -> None:
    found = _problems(
        "backstage__backstage__packages__catalog-model__examples__components__invalid-component.yaml"
    )
    assert found[0][:3] == (4, 9, "metadata.name")
    assert "'invalid component' is not a valid entity name" in found[0][3]
    assert found[1][:3] == (11, 7, "metadata.tags[1]")
    assert "tag 'go 1.15.3'" in found[1][3]


def test_cookiecutter_skeleton_is_a_template() -> None:
    (problem,) = read_descriptor(BACKSTAGE / INVALID_SKELETONS[0]).problems
    assert (problem.line, problem.column) == (4, 9)
    assert "is a template, not a catalog descriptor" in problem.message
    assert "{{cookiecutter.name | jsonify}}" in problem.message


def test_scaffolder_skeleton_is_a_template() -> None:
    (problem,) = read_descriptor(BACKSTAGE / INVALID_SKELETONS[1]).problems
    assert (problem.line, problem.column) == (4, 9)
    assert "${{values.component_id | dump}}" in problem.message


INVALID_SKELETONS = (
    "backstage__software-templates__scaffolder-templates__docs-template-cookiecutter__skeleton__catalog-info.yaml",
    "backstage__software-templates__scaffolder-templates__springboot-grpc-template__skeleton__catalog-info.yaml",
)


def test_scaffolder_template_entity_with_expressions_is_valid() -> None:
    result = read_descriptor(
        BACKSTAGE
        / "backstage__software-templates__scaffolder-templates__create-react-app__template.yaml"
    )
    assert result.problems == ()
    assert [e.kind for e in result.entities] == ["Template"]


def test_api_without_a_definition() -> None:
    found = _problems("OS2mo__os2mo__.backstage__graphql_api.yaml")
    assert [(line, path) for line, _, path, _ in found] == [(22, "spec.definition")]


def test_api_without_lifecycle_and_owner() -> None:
    found = _problems(
        "backstage__backstage__packages__catalog-model__examples__hello-world-api.yaml"
    )
    assert [(line, path) for line, _, path, _ in found] == [
        (7, "spec.lifecycle"),
        (7, "spec.owner"),
    ]


def test_entity_without_name_among_valid_ones() -> None:
    name = "incident-io__catalog-importer__docs__backstage__catalog-info.yaml"
    result = read_descriptor(BACKSTAGE / name, name)
    assert [(p.line, p.path, p.message) for p in result.problems] == [
        (5, "metadata.name", "name is required")
    ]
    assert [e.kind for e in result.entities] == ["Component", "Group", "User"]


IM_OPEN = "im-open__validate-catalog-info__test__catalog-infos__invalid-entities.yml"


@pytest.mark.parametrize(
    ("line", "column", "path", "fragment"),
    [
        (22, 1, "apiVersion", "apiVersion is required"),
        (31, 1, "apiVersion", "apiVersion must be a non-empty string, not empty"),
        (37, 13, "apiVersion", "'invalid.version.io/v5' is not valid for kind System"),
        (45, 1, "kind", "kind is required"),
        (60, 7, "kind", "unknown kind 'Thing'"),
        (69, 1, "metadata", "metadata must be a mapping with a name, not missing"),
        (94, 10, "metadata.title", "title must be a non-empty string"),
        (104, 5, "metadata.annotations", "annotations must be a mapping"),
        (114, 1, "metadata.links", "links must be a list, not null"),
        (124, 7, "metadata.links[0].url", "url is required"),
        (129, 14, "metadata.links[2].title", "title must be a non-empty string"),
        (144, 1, "extra-props", "unknown top-level field 'extra-props'"),
        (152, 9, "metadata.name", "is not a valid entity name"),
        (160, 9, "metadata.name", "'content-management-18!' is not a valid entity name"),
    ],
)
def test_im_open_invalid_entities(line: int, column: int, path: str, fragment: str) -> None:
    found = _problems(IM_OPEN)
    assert any((at, col, p) == (line, column, path) and fragment in m for at, col, p, m in found), (
        found
    )


def test_im_open_valid_entities_and_comments_only() -> None:
    valid = read_descriptor(
        BACKSTAGE / "im-open__validate-catalog-info__test__catalog-infos__valid-entities.yml"
    )
    assert [e.kind for e in valid.entities] == ["Domain", "System", "Component", "API", "Resource"]
    empty = read_descriptor(
        BACKSTAGE / "im-open__validate-catalog-info__test__catalog-infos__comments-only.yml"
    )
    assert empty.entities == () and empty.problems == ()


def test_component_model_from_a_real_file() -> None:
    result = read_descriptor(BACKSTAGE / "elastic__eland__catalog-info.yaml")
    (component,) = result.components
    assert isinstance(component, Component)
    assert component.id == "default/eland"
    assert component.owner is not None and str(component.owner) == "group:default/ml-core"
    assert [str(r) for r in component.depends_on] == [
        "resource:default/eland-pipeline",
        "resource:default/eland-releaser-docker-pipeline",
    ]
    assert component.annotations["backstage.io/source-location"] == (
        "url:https://github.com/elastic/eland/"
    )


def test_namespace_and_owner_refs() -> None:
    result = read_descriptor(
        BACKSTAGE
        / "backstage__backstage__packages__catalog-model__examples__components__different-"
        "namespace.yaml"
    )
    (component,) = result.components
    assert component.id == "alternative/different-namespace"
    assert str(component.owner) == "group:default/team-a"


def test_location_targets_missing_in_corpus_are_located_warnings() -> None:
    name = "backstage__backstage__packages__catalog-model__examples__all-components.yaml"
    (result,) = read_catalog([BACKSTAGE / name])
    assert result.valid and result.problems == ()
    assert len(result.warnings) == 13
    first = result.warnings[0]
    assert (first.line, first.column, first.path) == (8, 7, "spec.targets[0]")
    assert "does not exist" in first.message


def test_location_targets_are_followed(tmp_path: Path) -> None:
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "a.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n"
        "spec: {type: service, lifecycle: production, owner: team}\n"
    )
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\n"
        "spec:\n  targets: [./components/a.yaml, https://example.com/remote.yaml]\n"
    )
    files = read_catalog([tmp_path / "catalog-info.yaml"])
    assert [f.problems for f in files] == [(), ()]
    assert [c.name for f in files for c in f.components] == ["a"]
