"""resolve(): layering with provenance, coercion, every policy kind, located violations, hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.catalog import CatalogError, Component, Platform, check, resolve
from shipyard.catalog.backstage import read_descriptor_text
from shipyard.catalog.platform import parse_platform_text

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
    autoDeploy: true
  - name: prod
    target: gcp
    settings: {gcp-project: acme-prod, region: europe-west1, min-instances: 1}
    schema: {properties: {min-instances: {minimum: 1}, max-instances: {maximum: 8}}}
templates:
  - name: web-service
    default: true
    settings:
      port: 8080
      tag-pattern: '^v\\d+\\.\\d+\\.\\d+$'
      memory: 512Mi
      max-instances: 3
      public: false
      team-size: 4
    schema:
      type: object
      required: [owner-email]
      properties:
        region: {enum: [europe-west1, europe-west4]}
        max-instances: {type: integer, minimum: 1, maximum: 10}
        public: {const: false}
        owner-email: {type: string, pattern: '^[^@]+@acme\\.com$'}
        team-size: {type: integer, exclusiveMaximum: 10}
  - name: open
    settings: {port: 9000}
"""


def platform(text: str = PLATFORM) -> Platform:
    result, problems = parse_platform_text(text, "platform.yaml")
    assert problems == [] and result is not None
    return result


def component(annotations: dict[str, str], directory: Path | None = None) -> Component:
    lines = "".join(f"    {key}: '{value}'\n" for key, value in annotations.items())
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: orders-api\n"
        f"  annotations:\n{lines}spec:\n  type: service\n  lifecycle: production\n"
        "  owner: team-orders\n"
    )
    result = read_descriptor_text(text, "catalog-info.yaml", directory)
    assert result.problems == ()
    (found,) = result.components
    return found


BASE = {"shipyard.dev/owner-email": "orders@acme.com", "github.com/project-slug": "acme/orders"}


def test_layers_and_provenance() -> None:
    comp = component(
        {**BASE, "shipyard.dev/max-instances": "5", "shipyard.dev/prod.max-instances": "7"}
    )
    dev = resolve(comp, "dev", platform())
    prod = resolve(comp, "prod", platform())
    assert dev.settings["cpu"] == "1" and dev.provenance["cpu"].layer == "default"
    assert dev.settings["port"] == 8080 and dev.provenance["port"].layer == "template"
    assert dev.provenance["port"].file == "platform.yaml" and dev.provenance["port"].line == 15
    assert prod.settings["min-instances"] == 1
    assert prod.provenance["min-instances"].layer == "environment"
    assert prod.provenance["min-instances"].path == "environments[1].settings.min-instances"
    assert dev.settings["max-instances"] == 5  # "5" coerced to the schema's integer
    assert (
        dev.provenance["max-instances"].path == 'metadata.annotations["shipyard.dev/max-instances"]'
    )
    assert prod.settings["max-instances"] == 7  # the environment-specific annotation wins
    assert prod.provenance["max-instances"].path == (
        'metadata.annotations["shipyard.dev/prod.max-instances"]'
    )
    assert (prod.provenance["max-instances"].file, prod.provenance["max-instances"].line) == (
        "catalog-info.yaml",
        9,
    )


def test_desired_state_contents() -> None:
    state = resolve(component(BASE), "prod", platform())
    assert state.component == "default/orders-api" and state.template == "web-service"
    assert state.target == "gcp" and state.gcp is not None and state.local is None
    assert (state.gcp.project, state.gcp.region) == ("acme-prod", "europe-west1")
    assert state.source is not None and state.source.url == "https://github.com/acme/orders.git"
    assert state.provenance["source"].path == 'metadata.annotations["github.com/project-slug"]'
    assert state.tag_pattern == r"^v\d+\.\d+\.\d+$"
    assert [(p.port, p.target_port) for p in state.ports] == [(8080, 8080)]
    assert state.containers[0].build is not None
    assert state.scaling.min_instances == 1 and state.scaling.max_instances == 3
    assert state.labels["shipyard-environment"] == "prod"
    dev = resolve(component(BASE), "dev", platform())
    assert dev.local is not None and dev.gcp is None and dev.auto_deploy


def test_template_choice_and_port_override() -> None:
    state = resolve(
        component({**BASE, "shipyard.dev/template": "open", "shipyard.dev/port": "9100"}),
        "dev",
        platform(),
    )
    assert state.template == "open" and state.settings["port"] == 9100
    with pytest.raises(CatalogError, match="unknown template 'nope'"):
        resolve(component({**BASE, "shipyard.dev/template": "nope"}), "dev", platform())


def test_the_issue_example_message() -> None:
    comp = component(
        {**BASE, "shipyard.dev/team-size": "4", "shipyard.dev/prod.region": "europe-west9"}
    )
    _, problems = check(comp, "prod", platform())
    (problem,) = problems
    assert str(problem).startswith(
        'catalog-info.yaml:9:5 metadata.annotations["shipyard.dev/prod.region"]: '
        '"europe-west9" is not allowed in environment prod by template web-service '
        "(allowed: europe-west1, europe-west4)"
    )


@pytest.mark.parametrize(
    ("annotations", "env", "message"),
    [
        (
            {"shipyard.dev/region": "us-east1"},
            "prod",
            '"us-east1" is not allowed in environment prod by template web-service '
            "(allowed: europe-west1, europe-west4)",
        ),
        (
            {"shipyard.dev/max-instances": "12"},
            "dev",
            "12 is above the maximum 10 in environment dev by template web-service",
        ),
        (
            {"shipyard.dev/max-instances": "9"},
            "prod",
            "9 is above the maximum 8 in environment prod by the rules of environment prod",
        ),
        (
            {"shipyard.dev/max-instances": "0"},
            "dev",
            "0 is below the minimum 1 in environment dev by template web-service",
        ),
        (
            {"shipyard.dev/prod.min-instances": "0"},
            "prod",
            "0 is below the minimum 1 in environment prod by the rules of environment prod",
        ),
        (
            {"shipyard.dev/public": "true"},
            "dev",
            "true is not allowed in environment dev by template web-service (must be false)",
        ),
        (
            {"shipyard.dev/owner-email": "me@gmail.com"},
            "dev",
            '"me@gmail.com" does not match the pattern ^[^@]+@acme\\.com$ in environment dev '
            "by template web-service",
        ),
        (
            {"shipyard.dev/team-size": "10"},
            "dev",
            "10 must be less than 10 in environment dev by template web-service",
        ),
        (
            {"shipyard.dev/max-instances": "three"},
            "dev",
            '"three" is not of type integer in environment dev by template web-service',
        ),
        (
            {"shipyard.dev/port": "http"},
            "dev",
            '"http" is not of type integer in environment dev by Shipyard (a well-known setting)',
        ),
        (
            {"shipyard.dev/public": "yes"},
            "dev",
            '"yes" is not of type boolean in environment dev by Shipyard (a well-known setting)',
        ),
        (
            {"shipyard.dev/tag-pattern": "v(("},
            "dev",
            '"v((" is not a valid regex in environment dev by Shipyard (a well-known setting)',
        ),
    ],
)
def test_policy_kinds_point_at_the_annotation(
    annotations: dict[str, str], env: str, message: str
) -> None:
    rest = {key: value for key, value in BASE.items() if key not in annotations}
    _, problems = check(component({**annotations, **rest}), env, platform())
    assert message in [p.message for p in problems]
    (key,) = annotations
    for problem in problems:
        assert problem.file == "catalog-info.yaml"
        assert problem.path == f'metadata.annotations["{key}"]'
        assert (problem.line, problem.column) == (6, 5)


def test_required_points_at_the_annotations() -> None:
    _, problems = check(component({"github.com/project-slug": "acme/orders"}), "dev", platform())
    (problem,) = problems
    assert (
        problem.message
        == "setting owner-email is required in environment dev by template web-service"
    )
    assert problem.path == 'metadata.annotations["shipyard.dev/owner-email"]'
    assert (problem.file, problem.line) == ("catalog-info.yaml", 6)
    assert "shipyard.dev/owner-email" in (problem.hint or "")


def test_violation_from_the_platform_points_at_the_platform_file() -> None:
    text = PLATFORM.replace("max-instances: 3\n", "max-instances: 30\n")
    _, problems = check(component(BASE), "dev", platform(text))
    (problem,) = problems
    assert (problem.file, problem.line, problem.column) == ("platform.yaml", 18, 22)
    assert problem.path == "templates[0].settings.max-instances"
    assert (
        problem.message == "30 is above the maximum 10 in environment dev by template web-service"
    )


def test_gcp_needs_project_and_region() -> None:
    text = PLATFORM.replace(
        "settings: {gcp-project: acme-prod, region: europe-west1, min-instances: 1}",
        "settings: {min-instances: 1}",
    )
    _, problems = check(component(BASE), "prod", platform(text))
    assert [p.message for p in problems] == [
        "setting gcp-project is required in environment prod (target gcp)",
        "setting region is required in environment prod (target gcp)",
    ]
    state = resolve(
        component(
            {
                **BASE,
                "shipyard.dev/gcp-project": "acme-orders",
                "shipyard.dev/region": "europe-west4",
            }
        ),
        "prod",
        platform(text),
    )
    assert state.gcp is not None and state.gcp.project == "acme-orders"
    assert state.provenance["region"].layer == "component"


def test_typos_in_settings_and_environments() -> None:
    _, problems = check(
        component({**BASE, "shipyard.dev/max-instanses": "2", "shipyard.dev/prdo.region": "x"}),
        "dev",
        platform(),
    )
    messages = {p.path: (p.message, p.hint) for p in problems}
    assert messages['metadata.annotations["shipyard.dev/max-instanses"]'] == (
        "unknown setting 'max-instanses'",
        "did you mean shipyard.dev/max-instances?",
    )
    assert messages['metadata.annotations["shipyard.dev/prdo.region"]'] == (
        "'prdo' is not an environment of the platform",
        "did you mean 'prod'?",
    )


def test_min_above_max() -> None:
    _, problems = check(
        component({**BASE, "shipyard.dev/min-instances": "3", "shipyard.dev/max-instances": "2"}),
        "dev",
        platform(),
    )
    assert [p.message for p in problems] == [
        "min-instances 3 is above max-instances 2 in environment dev"
    ]


def test_sources(tmp_path: Path) -> None:
    local = resolve(
        component({**BASE, "shipyard.dev/source": "./app"}, tmp_path), "dev", platform()
    )
    assert local.source is not None and local.source.kind == "local"
    assert local.source.path == str(tmp_path / "app")
    git = resolve(
        component({**BASE, "backstage.io/source-location": "url:https://git.example.com/o/r"}),
        "dev",
        platform(),
    )
    assert git.source is not None and git.source.url == "https://git.example.com/o/r"
    ssh = resolve(
        component({**BASE, "shipyard.dev/source": "git@github.com:acme/x.git"}), "dev", platform()
    )
    assert ssh.source is not None and ssh.source.kind == "git"


def test_score_file_beside_the_descriptor(tmp_path: Path) -> None:
    (tmp_path / "score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: orders}\ncontainers:\n  web: {image: .}\n"
        "service: {ports: {http: {port: 80, targetPort: 3000}}}\n"
    )
    state = resolve(component(BASE, tmp_path), "dev", platform())
    assert [(p.port, p.target_port) for p in state.ports] == [(80, 3000)]
    missing = component({**BASE, "shipyard.dev/score-file": "deploy/score.yaml"}, tmp_path)
    _, problems = check(missing, "dev", platform())
    assert [p.message for p in problems] == ["score file 'deploy/score.yaml' does not exist"]


def test_stable_hash(tmp_path: Path) -> None:
    first = resolve(component(BASE), "prod", platform())
    again = resolve(component(dict(reversed(list(BASE.items())))), "prod", platform())
    assert first.stable_hash() == again.stable_hash()
    assert first.canonical_json() == again.canonical_json()
    assert len(first.stable_hash()) == 64
    changed = resolve(component({**BASE, "shipyard.dev/max-instances": "4"}), "prod", platform())
    assert changed.stable_hash() != first.stable_hash()
    # the same value from another layer: same effective config, same hash
    moved = resolve(component({**BASE, "shipyard.dev/max-instances": "3"}), "prod", platform())
    assert moved.stable_hash() == first.stable_hash()
    # local paths are machine-specific: only the value as written is hashed
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    in_a = resolve(component({**BASE, "shipyard.dev/source": "."}, a), "dev", platform())
    in_b = resolve(component({**BASE, "shipyard.dev/source": "."}, b), "dev", platform())
    assert in_a.source != in_b.source and in_a.stable_hash() == in_b.stable_hash()
    assert str(tmp_path) not in in_a.canonical_json()


def test_desired_state_is_frozen() -> None:
    state = resolve(component(BASE), "dev", platform())
    with pytest.raises(ValueError, match="frozen"):
        state.template = "other"  # type: ignore[misc]


HOSTILE_SOURCES = [
    "-u.@x:;touch /tmp/p;",
    "--upload-pack=touch /tmp/p",
    "ext::sh -c touch% /tmp/p",
    "fd::3",
    "file:///etc",
    "ssh://-oProxyCommand=touch%20/tmp/p/x",
    "-oProxyCommand=x@host:repo",
]


@pytest.mark.parametrize("source", HOSTILE_SOURCES)
def test_a_hostile_source_is_a_located_problem(source: str, tmp_path: Path) -> None:
    comp = component({**BASE, "shipyard.dev/source": source}, tmp_path)
    state, problems = check(comp, "dev", platform())
    assert state is None
    (problem,) = problems
    assert problem.file == "catalog-info.yaml" and problem.line is not None
    assert problem.path == 'metadata.annotations["shipyard.dev/source"]'
    assert "is refused" in problem.message and "https://" in problem.message


def test_a_hostile_source_location_is_refused_too() -> None:
    comp = component({**BASE, "backstage.io/source-location": "url:ext::sh -c id"})
    _, problems = check(comp, "dev", platform())
    assert [p.path for p in problems] == ['metadata.annotations["backstage.io/source-location"]']


@pytest.mark.parametrize(
    "score_file", ["../outside.yaml", "../../etc/passwd", "/etc/passwd", "sub/../../outside.yaml"]
)
def test_a_score_file_outside_the_folder_is_a_located_problem(
    score_file: str, tmp_path: Path
) -> None:
    folder = tmp_path / "component"
    folder.mkdir()
    (tmp_path / "outside.yaml").write_text("apiVersion: score.dev/v1b1\n")
    comp = component({**BASE, "shipyard.dev/score-file": score_file}, folder)
    state, problems = check(comp, "dev", platform())
    assert state is None
    (problem,) = problems
    assert problem.message == f"score file {score_file!r} is outside the component's folder"
    assert problem.path == 'metadata.annotations["shipyard.dev/score-file"]'
    assert problem.line is not None and "inside" in (problem.hint or "")


def test_a_score_file_symlinked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "component"
    folder.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("apiVersion: score.dev/v1b1\nmetadata: {name: leaked-name}\n")
    (folder / "score.yaml").symlink_to(secret)
    for given in ({**BASE, "shipyard.dev/score-file": "score.yaml"}, BASE):
        _, problems = check(component(given, folder), "dev", platform())
        assert [p.message for p in problems] == [
            "score file 'score.yaml' is outside the component's folder"
        ]
        assert "leaked-name" not in repr(problems)


def test_a_score_file_in_a_subfolder_is_read(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: orders}\ncontainers:\n  web: {image: .}\n"
        "service: {ports: {http: {port: 81, targetPort: 3001}}}\n"
    )
    comp = component({**BASE, "shipyard.dev/score-file": "deploy/../deploy/score.yaml"}, tmp_path)
    state = resolve(comp, "dev", platform())
    assert [(p.port, p.target_port) for p in state.ports] == [(81, 3001)]


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(", "x**"])
def test_a_tag_pattern_re_cannot_compile_is_a_located_problem(pattern: str) -> None:
    comp = component({**BASE, "shipyard.dev/tag-pattern": pattern})
    state, problems = check(comp, "dev", platform())
    assert state is None
    assert [p.path for p in problems] == ['metadata.annotations["shipyard.dev/tag-pattern"]']


def test_paths_the_os_refuses_are_problems_or_kept_as_written(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    looped = resolve(
        component({**BASE, "shipyard.dev/source": "loop/x"}, tmp_path), "dev", platform()
    )
    assert looped.source is not None and looped.source.path == str(tmp_path / "loop" / "x")
    long_name = "a" * 300 + ".yaml"
    _, problems = check(
        component({**BASE, "shipyard.dev/score-file": long_name}, tmp_path), "dev", platform()
    )
    assert [p.message for p in problems] == [f"score file {long_name!r} does not exist"]
