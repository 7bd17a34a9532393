"""Differential test: Backstage's own ``@backstage/catalog-model`` (run with Node, pinned in
tests/conformance/backstage-model/package-lock.json) and Shipyard judge the same fixtures,
field-format tables, kind tables and generated names, and must reach the same verdict.

Backstage's verdict is the default catalog's (judge.js: YAML documents, envelope, placeholders,
the four default entity policies, the built-in kind validators). Shipyard's is ``shipyard
validate`` on the fixture files and its descriptor check on the generated texts. Two
differences are by design and left out: the ``Template`` kind (judged by the scaffolder's
backend module, not catalog-model) and ``shipyard.dev/*`` annotations (Shipyard's own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backstage_judge import Judge, JudgeUnavailableError, Verdict
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shipyard.catalog.backstage import read_descriptor_text
from shipyard.cli.validate import validate_paths

FIXTURES = Path(__file__).parents[1] / "fixtures" / "backstage"
NOT_JUDGED_BY_CATALOG_MODEL = {"template.yaml"}  # kind Template: the scaffolder's


@pytest.fixture(scope="module")
def backstage() -> Iterator[Judge]:
    try:
        judge = Judge()
    except JudgeUnavailableError as exc:
        pytest.fail(str(exc))
    yield judge
    judge.close()


def ours(text: str) -> tuple[bool, list[str]]:
    result = read_descriptor_text(text, "catalog-info.yaml")
    return result.valid, sorted(str(entity.ref).lower() for entity in result.entities)


def theirs(verdict: Verdict) -> tuple[bool, list[str]]:
    """Backstage's verdict; refs compared lowercased (Backstage compares them so)."""
    return verdict.valid, sorted(ref.lower() for ref in verdict.refs)


def disagreements(judge: Judge, texts: list[str]) -> list[dict[str, Any]]:
    found = []
    for text, verdict in zip(texts, judge.judge(texts), strict=True):
        if ours(text) != theirs(verdict):
            shipyard = read_descriptor_text(text, "catalog-info.yaml")
            found.append(
                {
                    "text": text,
                    "backstage": [verdict.error, *[d["error"] for d in verdict.documents]],
                    "shipyard": [str(problem) for problem in shipyard.problems],
                }
            )
    return found


def entity(kind: str = "Domain", spec: Any = None, **metadata: Any) -> str:
    """One entity as a JSON document (JSON is YAML): exact values, no YAML typing surprises."""
    data = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", **metadata},
        "spec": {"owner": "team"} if spec is None else spec,
    }
    return json.dumps(data, ensure_ascii=False) + "\n"


# --- the fixtures, through `shipyard validate` -------------------------------------------

FIXTURE_FILES = sorted(
    path for path in FIXTURES.glob("*.yaml") if path.name not in NOT_JUDGED_BY_CATALOG_MODEL
)


def test_fixtures_get_backstages_verdicts(backstage: Judge) -> None:
    verdicts = backstage.judge([path.read_text() for path in FIXTURE_FILES])
    disagree = []
    for path, verdict in zip(FIXTURE_FILES, verdicts, strict=True):
        report = validate_paths([path])
        valid = not [p for p in report.problems if p.file == str(path)]
        refs = sorted(e["ref"].lower() for e in report.entities if e["file"] == str(path))
        if (valid, refs) != theirs(verdict):
            disagree.append((path.name, (valid, refs), theirs(verdict), verdict.documents))
    assert disagree == []
    assert {v.valid for v in verdicts} == {True, False}  # both verdicts are exercised


# --- field-format tables ------------------------------------------------------------------

NAMES = [
    "a", "A", "0", "a-b", "a--b", "a..b", "a__b", "a_.-b", "-a", "a-", ".a", "a.", "_a", "a_",
    "a b", "a/b", "a:b", "é", "a" * 63, "a" * 64, "a" * 62 + "-", "1.2.3", "UPPER", "", " a",
    "a\n", "a\tb", "a@b", "a+b",
]  # fmt: skip
NAMESPACES = [
    "default", "a--b", "a-b", "a..b", "a.b", "A", "a_b", "-a", "a-", "0", "a" * 63, "a" * 64,
]  # fmt: skip
KEYS = [
    "k", "a--b", "a..b", "example.com/k", "example.com/a..b", "ex--ample.com/k",
    "ex..ample.com/k", "Example.com/k", "a/b/c", "/k", "example.com/", "-e.com/k",
    "e.com-/k", "e.c_m/k", "a" * 63, "a" * 64, ("a" * 63 + ".") * 3 + "com/k",
    ("a" * 63 + ".") * 4 + "com/k", "e.com/" + "a" * 63, "e.com/" + "a" * 64, "k k", "",
]  # fmt: skip
LABEL_VALUES = ["", "v", "a--b", "a..b", "-v", "v-", "a b", "a" * 63, "a" * 64, "é"]
TAGS = [
    "python", "c++", "c#", "a:b", "a-b", "a--b", "a_b", "A", "a.b", "-a", "a-", "",
    "a" * 63, "a" * 64, ":", "+",
]  # fmt: skip
URLS = [
    "https://example.com", "http://x", "https://example.com:8443/a?b#c", "mailto:a@b.org",
    "slack://channel", "file:///etc/hosts", "not a url", "example.com", "/relative",
    "https://", "http://a b", "https://x:99999", "https://x:port", "", " https://x ",
]  # fmt: skip
API_VERSIONS = [
    "backstage.io/v1alpha1", "backstage.io/v1beta1", "backstage.io/v1beta2", "v1alpha1",
    "backstage.io/v1/alpha", "Backstage.io/v1alpha1", "backstage.io/", "",
]  # fmt: skip
KINDS_WRITTEN = ["Domain", "domain", "DOMAIN", "Dom_ain", "1Domain", "", "Widget"]


def _metadata_cases() -> list[str]:
    texts = [entity(**{"name": name}) for name in NAMES]
    texts += [entity(namespace=namespace) for namespace in NAMESPACES]
    texts += [entity(labels={key: "v"}) for key in KEYS]
    texts += [entity(annotations={key: "v"}) for key in KEYS]
    texts += [entity(labels={"k": value}) for value in LABEL_VALUES]
    texts += [entity(annotations={"example.com/k": value}) for value in ["", "any text {x}"]]
    texts += [entity(tags=[tag]) for tag in TAGS]
    texts += [entity(links=[{"url": url}]) for url in URLS]
    texts += [
        entity(links=[{"url": "https://x.org", field: value}])
        for field in ("title", "icon", "type")
        for value in ("ok", "", " ", None, 3)
    ]
    for field in ("title", "description", "uid", "etag", "namespace"):
        texts += [entity(**{field: value}) for value in ("ok", "", " ", None, 3, ["a"])]
    for field in ("labels", "annotations", "tags", "links"):
        texts += [entity(**{field: value}) for value in (None, "x", [], {}, 3)]
    texts += [entity(labels={"k": 3}), entity(annotations={"k": True}), entity(tags=[3])]
    return texts


def _envelope_cases() -> list[str]:
    base = json.loads(entity())
    texts = []
    for version in API_VERSIONS:
        texts.append(json.dumps({**base, "apiVersion": version}))
    for kind in KINDS_WRITTEN:
        texts.append(json.dumps({**base, "kind": kind}))
    for key in ("apiVersion", "kind", "metadata", "spec"):
        texts.append(json.dumps({k: v for k, v in base.items() if k != key}))
    for extra in ("relations", "status", "owner", "Spec"):
        texts.append(json.dumps({**base, extra: []}))
    texts += [json.dumps({**base, "metadata": value}) for value in (None, [], "x", {})]
    texts += ["[1, 2]\n", "just text\n", "42\n", "---\n---\n"]
    return texts


def test_field_format_tables_get_backstages_verdicts(backstage: Judge) -> None:
    assert disagreements(backstage, _metadata_cases() + _envelope_cases()) == []


# --- kind tables --------------------------------------------------------------------------

MINIMAL: dict[str, dict[str, Any]] = {
    "Component": {"type": "service", "lifecycle": "production", "owner": "team"},
    "API": {"type": "openapi", "lifecycle": "production", "owner": "team", "definition": "x"},
    "Resource": {"type": "database", "owner": "team"},
    "System": {"owner": "team"},
    "Domain": {"owner": "team"},
    "Group": {"type": "team", "children": []},
    "User": {"memberOf": []},
    "Location": {},
}
OPTIONAL: dict[str, list[str]] = {
    "Component": [
        "system", "subcomponentOf", "providesApis", "consumesApis", "dependsOn", "dependencyOf",
    ],
    "API": ["system"],
    "Resource": ["system", "dependsOn", "dependencyOf"],
    "System": ["domain", "type"],
    "Domain": ["subdomainOf", "type"],
    "Group": ["parent", "members", "profile"],
    "User": ["profile"],
    "Location": ["type", "target", "targets", "presence"],
}  # fmt: skip
ODD_VALUES: list[Any] = [None, "", " ", "x", 3, True, [], ["a"], [""], [3], {}, {"a": "b"}]


def _kind_cases() -> list[str]:
    texts = []
    for kind, spec in MINIMAL.items():
        texts.append(entity(kind, spec))
        texts += [entity(kind, value) for value in (None, [], "x")]
        texts.append(entity(kind, {**spec, "somethingElse": {"any": 1}}))
        for field in [*spec, *OPTIONAL[kind]]:
            texts.append(entity(kind, {k: v for k, v in spec.items() if k != field}))
            texts += [entity(kind, {**spec, field: value}) for value in ODD_VALUES]
        for version in ("backstage.io/v1beta1", "backstage.io/v1beta2"):
            data = json.loads(entity(kind, spec))
            texts.append(json.dumps({**data, "apiVersion": version}))
    api = MINIMAL["API"]
    placeholders: list[dict[str, Any]] = [
        {"$text": "./a.yaml"},
        {"$json": "./a.json"},
        {"$yaml": "./a.yaml"},
        {"$openapi": "./a.yaml"},
        {"$text": 3},
        {"$text": "a", "x": 1},
    ]
    for placeholder in placeholders:
        texts.append(entity("API", {**api, "definition": placeholder}))
    for profile in ({"displayName": "A"}, {"email": ""}, {"picture": 3}, {"other": 1}):
        texts.append(entity("User", {"memberOf": [], "profile": profile}))
        texts.append(entity("Group", {**MINIMAL["Group"], "profile": profile}))
    return texts


def test_kind_tables_get_backstages_verdicts(backstage: Judge) -> None:
    assert disagreements(backstage, _kind_cases()) == []


# --- generated names ----------------------------------------------------------------------

name_like = st.text(
    alphabet=st.sampled_from("aZ09-_.-_./: é#+\tA"), min_size=0, max_size=70
) | st.text(alphabet=st.sampled_from("ab-._"), min_size=60, max_size=66)


# Each example is a batch of 240 texts in one Node call; a failure names the texts that
# disagree, so shrinking (slow on batches) is left out.
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(name_like, min_size=30, max_size=30))
def test_generated_names_get_backstages_verdicts(backstage: Judge, words: list[str]) -> None:
    texts = []
    for word in words:
        texts += [
            entity(name=word),
            entity(namespace=word),
            entity(labels={word: "v"}),
            entity(labels={"k": word}),
            entity(annotations={word: "v"}),
            entity(tags=[word]),
            entity("Component", {**MINIMAL["Component"], "owner": word, "dependsOn": [word]}),
            entity("Group", {"type": "team", "children": [word], "parent": word}),
        ]
    assert disagreements(backstage, texts) == []


# --- YAML as the catalog reads it ---------------------------------------------------------

YAML_HEAD = "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: x\n"
YAML_CASES = [
    YAML_HEAD + "  name: y\nspec: {owner: t}\n",  # a duplicate key
    "metadata: &m\n  name: x\n---\nmetadata: *m\n",  # an alias to another document's anchor
    YAML_HEAD + "  title: 2024-01-01\nspec: {owner: t}\n",  # YAML 1.2: a string, not a date
    YAML_HEAD + "  title: yes\nspec: {owner: t}\n",  # YAML 1.2: a string, not a boolean
    YAML_HEAD.replace("name: x", "name: 0x1F") + "spec: {owner: t}\n",
    YAML_HEAD.replace("name: x", "name: '123'") + "spec: {owner: t}\n",
    YAML_HEAD.replace("name: x", "name: 123") + "spec: {owner: t}\n",
    YAML_HEAD + "  description: ~\nspec: {owner: t}\n",
    YAML_HEAD + "  description: 'uses {{ x }} in its text'\nspec: {owner: t}\n",
    YAML_HEAD + "spec: {owner: t}\n...\n",
    YAML_HEAD + "  labels: {a: 1.0}\nspec: {owner: t}\n",
    YAML_HEAD + "  tags: [!!str 5]\nspec: {owner: t}\n",
    YAML_HEAD + "spec: {owner: t}\n---\n# only a comment\n---\n" + YAML_HEAD + "spec: {}\n",
    "kind: [\n",
]


def test_yaml_edge_cases_get_backstages_validity(backstage: Judge) -> None:
    """The file's verdict only: where a document has a YAML error, Backstage skips that
    document and Shipyard reports it (both call the file invalid)."""
    verdicts = backstage.judge(YAML_CASES)
    found = [(text, ours(text)[0], v.valid) for text, v in zip(YAML_CASES, verdicts, strict=True)]
    assert [case for case in found if case[1] != case[2]] == []
