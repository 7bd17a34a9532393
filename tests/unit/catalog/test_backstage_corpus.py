"""The project's own Backstage descriptors (tests/fixtures/backstage), one or more of every
built-in kind: valid ones parse, invalid ones are rejected with located problems.

The same checks over third-party files run in the conformance run (tests/conformance/corpus,
docs/conformance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.catalog.backstage import (
    Component,
    read_catalog,
    read_descriptor,
    read_descriptor_text,
)
from shipyard.testing.descriptors import (
    Located,
    assert_parses,
    assert_rejected_with_locations,
    located_problems,
)

BACKSTAGE = Path(__file__).parents[2] / "fixtures" / "backstage"
INVALID = {
    "api-without-definition.yaml",
    "api-without-lifecycle-and-owner.yaml",
    "invalid-component.yaml",
    "invalid-entities.yaml",
    "one-without-name.yaml",
    "skeleton-cookiecutter.yaml",
    "skeleton-scaffolder.yaml",
}
FILES = sorted(p.name for p in BACKSTAGE.glob("*.yaml"))


def test_fixtures_cover_every_built_in_kind() -> None:
    assert set(FILES) >= INVALID
    kinds = {
        entity.kind
        for name in sorted(set(FILES) - INVALID)
        for entity in read_descriptor(BACKSTAGE / name).entities
    }
    assert kinds == {
        "API",
        "Component",
        "Domain",
        "Group",
        "Location",
        "Resource",
        "System",
        "Template",
        "User",
    }


@pytest.mark.parametrize("name", sorted(set(FILES) - INVALID))
def test_valid_descriptor_parses(name: str) -> None:
    assert_parses(BACKSTAGE, name)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_descriptor_is_rejected_with_locations(name: str) -> None:
    assert_rejected_with_locations(BACKSTAGE, name)


def _problems(name: str) -> list[Located]:
    return located_problems(BACKSTAGE, name)


def test_invalid_component_name_and_tag() -> None:
    found = _problems("invalid-component.yaml")
    assert found[0][:3] == (4, 9, "metadata.name")
    assert "'parcel tracker' is not a valid entity name" in found[0][3]
    assert found[1][:3] == (7, 7, "metadata.tags[1]")
    assert "tag 'python 3.12'" in found[1][3]


def test_cookiecutter_skeleton_is_a_template() -> None:
    (problem,) = read_descriptor(BACKSTAGE / "skeleton-cookiecutter.yaml").problems
    assert (problem.line, problem.column) == (4, 9)
    assert "is a template, not a catalog descriptor" in problem.message
    assert "{{cookiecutter.service_name}}" in problem.message


def test_scaffolder_skeleton_is_a_template() -> None:
    (problem,) = read_descriptor(BACKSTAGE / "skeleton-scaffolder.yaml").problems
    assert (problem.line, problem.column) == (4, 9)
    assert "${{ values.name | dump }}" in problem.message


def test_scaffolder_template_entity_with_expressions_is_valid() -> None:
    result = read_descriptor(BACKSTAGE / "template.yaml")
    assert result.problems == ()
    assert [e.kind for e in result.entities] == ["Template"]


def test_api_without_lifecycle_and_owner() -> None:
    found = _problems("api-without-lifecycle-and-owner.yaml")
    assert [(line, path) for line, _, path, _ in found] == [
        (8, "spec.lifecycle"),
        (8, "spec.owner"),
    ]


def test_entity_without_name_among_valid_ones() -> None:
    name = "one-without-name.yaml"
    result = read_descriptor(BACKSTAGE / name, name)
    assert [(p.line, p.path, p.message) for p in result.problems] == [
        (4, "metadata.name", "name is required")
    ]
    assert [e.kind for e in result.entities] == ["Group", "User"]


@pytest.mark.parametrize(
    ("line", "column", "path", "fragment"),
    [
        (2, 1, "apiVersion", "apiVersion is required"),
        (7, 13, "apiVersion", "apiVersion must be a non-empty string, not empty"),
        (13, 13, "apiVersion", "'example.org/v9' is not valid for kind System"),
        (19, 1, "kind", "kind is required"),
        (25, 7, "kind", "unknown kind 'Gadget'"),
        (30, 1, "metadata", "metadata must be a mapping with a name, not missing"),
        (38, 10, "metadata.title", "title must be a non-empty string"),
        (46, 5, "metadata.annotations", "annotations must be a mapping"),
        (54, 1, "metadata.links", "links must be a list, not null"),
        (61, 7, "metadata.links[0].url", "url is required"),
        (69, 1, "owner", "unknown top-level field 'owner'"),
        (74, 9, "metadata.name", "'-leading-dash' is not a valid entity name"),
        (80, 9, "metadata.name", "'exclamation!' is not a valid entity name"),
        (88, 1, "status", "unknown top-level field 'status'"),
    ],
)
def test_invalid_entities_one_mistake_each(
    line: int, column: int, path: str, fragment: str
) -> None:
    found = _problems("invalid-entities.yaml")
    assert any((at, col, p) == (line, column, path) and fragment in m for at, col, p, m in found), (
        found
    )


def test_comments_only_holds_nothing() -> None:
    empty = read_descriptor(BACKSTAGE / "comments-only.yaml")
    assert empty.entities == () and empty.problems == ()


def test_component_model_from_a_file() -> None:
    result = read_descriptor(BACKSTAGE / "component-service.yaml")
    (component,) = result.components
    assert isinstance(component, Component)
    assert component.id == "default/parcel-tracker"
    assert component.owner is not None and str(component.owner) == "group:default/logistics"
    assert [str(r) for r in component.depends_on] == ["resource:default/parcels-db"]
    assert component.labels == {"tier": "backend", "cost-centre": "logistics.eu"}
    assert component.annotations["github.com/project-slug"] == "example-org/parcel-tracker"
    assert component.shipyard_annotations == {"template": "web-service"}


def test_namespace_and_owner_refs() -> None:
    result = read_descriptor(BACKSTAGE / "component-other-namespace.yaml")
    (component,) = result.components
    assert component.id == "warehouse/label-printer"
    assert str(component.owner) == "group:default/warehouse-ops"


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


def test_a_missing_location_target_is_a_warning() -> None:
    files = read_catalog([BACKSTAGE / "location.yaml"])
    location = files[0]
    assert location.valid and location.problems == ()
    (warning,) = location.warnings
    assert (warning.line, warning.column, warning.path) == (12, 7, "spec.targets[2]")
    assert warning.message == "Location target './missing-target.yaml' does not exist"
    assert [f.file.rsplit("/", 1)[-1] for f in files[1:]] == ["component-service.yaml", "org.yaml"]


# Backstage's kind schemas: each kind's required spec fields (schema/kinds/*.schema.json).
MINIMAL = {
    "Component": {"type": "service", "lifecycle": "production", "owner": "team"},
    "API": {"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x"},
    "Resource": {"type": "database", "owner": "team"},
    "System": {"owner": "team"},
    "Domain": {"owner": "team"},
    "Group": {"type": "team", "children": []},
    "User": {"memberOf": []},
    "Location": {},
}


def _entity(kind: str, spec: object, extra: str = "") -> str:
    return (
        f"apiVersion: backstage.io/v1alpha1\nkind: {kind}\nmetadata: {{name: x}}\n"
        f"spec: {json.dumps(spec)}\n{extra}"
    )


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_each_kind_minimal_spec_is_valid(kind: str) -> None:
    result = read_descriptor_text(_entity(kind, MINIMAL[kind]), "k.yaml")
    assert result.problems == () and [e.kind for e in result.entities] == [kind]


@pytest.mark.parametrize(
    ("kind", "field"), [(kind, field) for kind, spec in sorted(MINIMAL.items()) for field in spec]
)
def test_each_required_spec_field_is_required(kind: str, field: str) -> None:
    spec = {key: value for key, value in MINIMAL[kind].items() if key != field}
    result = read_descriptor_text(_entity(kind, spec), "k.yaml")
    assert [p.path for p in result.problems] == [f"spec.{field}"]
    assert result.entities == ()


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_kind_needs_a_spec(kind: str) -> None:
    text = f"apiVersion: backstage.io/v1alpha1\nkind: {kind}\nmetadata: {{name: x}}\n"
    (problem,) = read_descriptor_text(text, "k.yaml").problems
    assert problem.path == "spec" and f"a {kind} needs a spec mapping" in problem.message


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        ({"system": None}, "spec.system", "must be a non-empty string, not empty"),
        ({"definition": {"$yaml": "./api.yaml"}}, "spec.definition", "does not give text"),
        ({"definition": {"$json": "./api.json"}}, "spec.definition", "does not give text"),
        ({"definition": ""}, "spec.definition", "an API needs a definition"),
    ],
)
def test_api_fields_as_backstage_types_them(
    spec: dict[str, object], path: str, fragment: str
) -> None:
    result = read_descriptor_text(_entity("API", {**MINIMAL["API"], **spec}), "k.yaml")
    assert [(p.path, fragment in p.message) for p in result.problems] == [(path, True)]


def test_relations_are_the_catalogs_to_write() -> None:
    text = _entity("Domain", {"owner": "team"}, "relations: []\n")
    (problem,) = read_descriptor_text(text, "k.yaml").problems
    assert problem.message == "unknown top-level field 'relations'"
    assert problem.hint is not None and "computes relations and status" in problem.hint


@pytest.mark.parametrize(
    ("metadata", "valid"),
    [
        ("{name: a--b}", True),
        ("{name: a..b}", True),
        ("{name: a__b}", True),
        ("{name: a-, }", False),
        ("{name: x, namespace: a--b}", True),
        ("{name: x, namespace: a..b}", False),
        ("{name: x, namespace: A}", False),
        ("{name: x, labels: {a..b/c: d}}", False),
        ("{name: x, labels: {a--b.c/d..e: f__g}}", True),
        ("{name: x, labels: {k: ''}}", True),
        ("{name: x, labels: {k: -v}}", False),
        ("{name: x, annotations: {e.org/a/b: v}}", False),
        ("{name: x, annotations: {e.org/k: ''}}", True),
        ("{name: x, tags: ['c++', 'a:b']}", True),
        ("{name: x, tags: ['a--b']}", False),
        ("{name: x, links: [{url: 'https://x.org'}]}", True),
        ("{name: x, links: [{url: 'not a url'}]}", False),
        ("{name: x, links: [{url: 'https://x.org', title: ' '}]}", False),
        ("{name: x, title: null}", False),
        (f"{{name: {'a' * 63}}}", True),
        (f"{{name: {'a' * 64}}}", False),
    ],
)
def test_field_formats_as_backstage_judges_them(metadata: str, valid: bool) -> None:
    text = (
        f"apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {metadata}\n"
        "spec: {owner: t}\n"
    )
    result = read_descriptor_text(text, "k.yaml")
    assert (result.problems == ()) is valid, result.problems
