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
