"""Random mutations of valid descriptors, workloads and platform files: never an unhandled
exception, and every problem carries a location. `make fuzz` runs the marked variants with
the `fuzz` profile (>= 10,000 examples each)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from shipyard.catalog import Problem, check
from shipyard.catalog._yaml import load_text
from shipyard.catalog.backstage import read_descriptor_text
from shipyard.catalog.platform import parse_platform_text
from shipyard.catalog.score import parse_workload_text

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
DESCRIPTOR = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-api
  labels: {tier: web}
  tags: [python]
  annotations:
    github.com/project-slug: acme/orders-api
    shipyard.dev/template: web-service
    shipyard.dev/max-instances: "4"
    shipyard.dev/prod.region: europe-west4
    shipyard.dev/port: "8080"
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
  dependsOn: [resource:default/db]
"""
PLATFORM_TEXT = (ROOT / "examples" / "platform.yaml").read_text()
WORKLOAD = (FIXTURES / "score" / "full.yaml").read_text()
WHOLE_FILE = (
    "the file holds no Score workload",
    "the platform file is empty",
    "larger than",
    "nests too deeply",
    "invalid YAML",
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "{{ x }}",
            "${{ values.x }}",
            "{% if x %}",
            "$$",
            "${metadata.name}",
            "${resources.nope.x}",
            "${",
            "true",
            "3",
            "europe-west9",
            "",
            "-",
            "a" * 70,
            "group:default/x",
            "::",
            "shipyard.dev/x",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _load(text: str) -> Any:
    return load_text(text, "seed.yaml").documents[0].data


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> str | bytes:
    data = _load(seed)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            data = draw(values) if action == "replace" else data
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(values)
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    text = out.getvalue()
    damage = draw(st.sampled_from(["none", "none", "insert", "bytes"]))
    if damage == "insert":
        at = draw(st.integers(0, len(text)))
        junk = draw(
            st.sampled_from(
                [
                    "\t",
                    "&a ",
                    "*a",
                    "{{",
                    "- ",
                    ": ",
                    "---\n",
                    "\n  ",
                    "'",
                    '"',
                    "!!binary ",
                    "<<: *a\n",
                    "? [1]\n",
                ]
            )
        )
        return text[:at] + junk + text[at:]
    if damage == "bytes":
        return text.encode() + draw(st.binary(max_size=4))
    return text


def _assert_located(problems: Any) -> None:
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.file and problem.message
        if problem.line is None:
            assert any(part in problem.message for part in WHOLE_FILE), problem
        else:
            assert problem.line >= 1 and problem.column is not None and problem.column >= 1


PLATFORM = parse_platform_text(PLATFORM_TEXT, "platform.yaml")[0]


def _descriptor(text: str | bytes) -> None:
    result = read_descriptor_text(text, "catalog-info.yaml")
    _assert_located(result.problems)
    assert PLATFORM is not None
    for component in result.components:
        for env in PLATFORM.environments:
            state, problems = check(component, env, PLATFORM)
            _assert_located(problems)
            assert (state is None) == bool(problems)
            if state is not None:
                assert len(state.stable_hash()) == 64


def _workload(text: str | bytes) -> None:
    workload, problems = parse_workload_text(text, "score.yaml")
    _assert_located(problems)
    assert (workload is None) == bool(problems)


def _platform(text: str | bytes) -> None:
    platform, problems = parse_platform_text(text, "platform.yaml")
    _assert_located(problems)
    assert (platform is None) == bool(problems)


@given(mutated(DESCRIPTOR))
def test_descriptor_mutations(text: str | bytes) -> None:
    _descriptor(text)


@given(mutated(WORKLOAD))
def test_workload_mutations(text: str | bytes) -> None:
    _workload(text)


@given(mutated(PLATFORM_TEXT))
def test_platform_mutations(text: str | bytes) -> None:
    _platform(text)


@pytest.mark.fuzz
@given(mutated(DESCRIPTOR))
def test_descriptor_mutations_fuzz(text: str | bytes) -> None:
    _descriptor(text)


@pytest.mark.fuzz
@given(mutated(WORKLOAD))
def test_workload_mutations_fuzz(text: str | bytes) -> None:
    _workload(text)


@pytest.mark.fuzz
@given(mutated(PLATFORM_TEXT))
def test_platform_mutations_fuzz(text: str | bytes) -> None:
    _platform(text)


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe\x00",
        "a: &a [*a, *a]",
        "a: &a [1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
        "[" * 5000,
        "kind:\tComponent",
        "? {a: 1}\n: x",
    ],
)
def test_hostile_inputs(text: str | bytes) -> None:
    _descriptor(text)
    _workload(text)
    _platform(text)


# --- annotation values that name paths, URLs and patterns --------------------------------
# shipyard.dev/source, shipyard.dev/score-file and shipyard.dev/tag-pattern go through
# `shipyard validate` (with and without a platform) and resolve (check) for every
# environment: never an unhandled exception, every problem located.

HOSTILE_PATHS = [
    "",
    " ",
    ".",
    "..",
    "../..",
    "../../etc/passwd",
    "/etc/passwd",
    "/",
    "~",
    "~/score.yaml",
    "a/../../b",
    "sub/../score.yaml",
    "sub/score.yaml",
    "score.yaml",
    "link-out.yaml",
    "link-loop.yaml",
    "sub",
    "score.yaml\x00.txt",
    "nul\x00",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\x",
    "%2e%2e/%2e%2e/etc/passwd",
    "file:///etc/passwd",
    "-u.@x:;touch /tmp/p;",
    "--upload-pack=touch /tmp/p",
    "-oProxyCommand=touch /tmp/p",
    "ssh://-oProxyCommand=touch%20/tmp/p/x",
    "ext::sh -c touch% /tmp/p",
    "https://example.com/repo.git",
    "https://-x.example.com/repo.git",
    "git@github.com:acme/orders.git",
    "git://example.com/x.git",
    "http://[::1/x",
    "http://user:pa ss@host/x",
    "a" * 300,
    "a/" * 200,
    "é/ñ/😀.yaml",
    "score.yaml\nshipyard.dev/x: y",
]
HOSTILE_PATTERNS = [
    "",
    "(",
    "[",
    ")",
    "*",
    "+",
    "?",
    "\\",
    "(?P<",
    "(?P<a>x)(?P<a>y)",
    "(?<!a+)b",
    "a{99999999999}",
    "(a+)+$",
    "(?i)^V\\d+",
    "\\p{L}",
    "[z-a]",
    "^v\\d+\\.\\d+\\.\\d+$",
    "x" * 1000,
]
path_like = st.sampled_from(HOSTILE_PATHS) | st.text(max_size=30)
pattern_like = st.sampled_from(HOSTILE_PATTERNS) | st.text(max_size=20)
PLATFORM_FILE = ROOT / "examples" / "platform.yaml"


@pytest.fixture(scope="module")
def component_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A component's folder with a Score file, a sub-folder, and links out of it."""
    root = tmp_path_factory.mktemp("annotations")
    outside = root / "outside"
    outside.mkdir()
    (outside / "score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: secret}\ncontainers: {main: {image: x}}\n"
    )
    folder = root / "svc"
    (folder / "sub").mkdir(parents=True)
    score = "apiVersion: score.dev/v1b1\nmetadata: {name: svc}\ncontainers: {main: {image: .}}\n"
    (folder / "score.yaml").write_text(score)
    (folder / "sub" / "score.yaml").write_text(score)
    (folder / "link-out.yaml").symlink_to(outside / "score.yaml")
    (folder / "link-loop.yaml").symlink_to(folder / "link-loop.yaml")
    return folder


def _with_annotations(values: dict[str, str | None]) -> str:
    data = _load(DESCRIPTOR)
    annotations = data["metadata"]["annotations"]
    for key, value in values.items():
        if value is not None:
            annotations[f"shipyard.dev/{key}"] = value
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def _annotation_values(folder: Path, values: dict[str, str | None]) -> None:
    from shipyard.cli.validate import validate_paths

    descriptor = folder / "catalog-info.yaml"
    descriptor.write_text(_with_annotations(values))
    for platform_file in (None, PLATFORM_FILE):
        report = validate_paths([descriptor], platform_file)
        for problem in report.problems:
            assert isinstance(problem, Problem) and problem.file and problem.message
        assert report.valid == (not report.problems)
    result = read_descriptor_text(descriptor.read_text(), str(descriptor), folder)
    _assert_located(result.problems)
    assert PLATFORM is not None
    for component in result.components:
        for env in PLATFORM.environments:
            state, problems = check(component, env, PLATFORM)
            _assert_located(problems)
            assert (state is None) == bool(problems)


@given(
    source=st.none() | path_like,
    score_file=st.none() | path_like,
    tag_pattern=st.none() | pattern_like,
)
def test_path_url_and_pattern_annotations(
    component_folder: Path, source: str | None, score_file: str | None, tag_pattern: str | None
) -> None:
    _annotation_values(
        component_folder, {"source": source, "score-file": score_file, "tag-pattern": tag_pattern}
    )


@pytest.mark.fuzz
@given(
    source=st.none() | path_like,
    score_file=st.none() | path_like,
    tag_pattern=st.none() | pattern_like,
)
def test_path_url_and_pattern_annotations_fuzz(
    component_folder: Path, source: str | None, score_file: str | None, tag_pattern: str | None
) -> None:
    _annotation_values(
        component_folder, {"source": source, "score-file": score_file, "tag-pattern": tag_pattern}
    )


@pytest.mark.parametrize("value", HOSTILE_PATHS)
def test_each_hostile_path_as_source_and_score_file(component_folder: Path, value: str) -> None:
    _annotation_values(component_folder, {"source": value, "score-file": value})


@pytest.mark.parametrize("value", HOSTILE_PATTERNS)
def test_each_hostile_tag_pattern(component_folder: Path, value: str) -> None:
    _annotation_values(component_folder, {"tag-pattern": value})


@pytest.mark.parametrize(
    "value",
    ["/etc/passwd", "../outside/score.yaml", "sub/../../outside/score.yaml", "link-out.yaml"],
)
def test_a_score_file_outside_the_folder_is_a_located_problem(
    component_folder: Path, value: str
) -> None:
    from shipyard.cli.validate import validate_paths

    descriptor = component_folder / "catalog-info.yaml"
    descriptor.write_text(_with_annotations({"score-file": value}))

    report = validate_paths([descriptor])

    found = [p for p in report.problems if "shipyard.dev/score-file" in p.path]
    assert found, report.problems
    assert all(p.line is not None and "secret" not in p.message for p in found)
