"""platform.yaml: the published format from DESIGN.md loads; its own mistakes are located."""

from __future__ import annotations

from pathlib import Path

from shipyard.catalog.platform import parse_platform, parse_platform_text

EXAMPLE = Path(__file__).parents[3] / "examples" / "platform.yaml"

DESIGN_EXAMPLE = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:              # ordered: promotion goes down this list
  - name: dev
    target: local
    autoDeploy: true
  - name: prod
    target: gcp
    settings: {gcp-project: acme-prod, region: europe-west1, min-instances: 1}
    schema: {properties: {min-instances: {minimum: 1}}}    # this environment's rules
templates:
  - name: web-service
    default: true
    settings:              # defaults
      port: 8080
      tag-pattern: '^v\\d+\\.\\d+\\.\\d+$'
      cpu: "1"
      memory: 512Mi
      min-instances: 0
      max-instances: 3
      public: false
    schema:                # JSON Schema (2020-12) the resolved settings must satisfy
      type: object
      properties:
        region: {enum: [europe-west1, europe-west4]}
        max-instances: {type: integer, minimum: 1, maximum: 10}
        public: {const: false}
"""


def test_design_example_loads_as_written() -> None:
    platform, problems = parse_platform_text(DESIGN_EXAMPLE, "platform.yaml")
    assert problems == []
    assert platform is not None
    assert [(e.name, e.target, e.auto_deploy) for e in platform.environments] == [
        ("dev", "local", True),
        ("prod", "gcp", False),
    ]
    prod = platform.environment("prod")
    assert prod is not None and prod.settings["min-instances"] == 1
    template = platform.template()
    assert template is not None and template.name == "web-service" and template.default
    assert template.settings["tag-pattern"] == r"^v\d+\.\d+\.\d+$"


def test_repository_example_loads() -> None:
    platform, problems = parse_platform(EXAMPLE)
    assert problems == []
    assert platform is not None
    assert [e.target for e in platform.environments] == ["local", "gcp"]


BROKEN = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: kubernetes
    auto_deploy: true
  - name: dev
    target: local
    settings: {port: http}
templates:
  - name: web-service
    default: true
    schema: {type: objekt}
  - name: worker
    default: true
    schema: {properties: {max-instances: {maximum: ten}}}
"""


def test_platform_mistakes_are_located() -> None:
    platform, problems = parse_platform_text(BROKEN, "platform.yaml")
    assert platform is None
    found = {(p.line, p.path): (p.message, p.hint) for p in problems}
    assert found[(5, "environments[0].target")][0] == "unknown target 'kubernetes'"
    assert found[(6, "environments[0].auto_deploy")] == (
        "unknown field 'auto_deploy'",
        "did you mean 'autoDeploy'?",
    )
    assert "duplicate environment name 'dev'" in found[(7, "environments[1].name")][0]
    assert '"http" is not of type integer' in found[(9, "environments[1].settings.port")][0]
    assert found[(13, "templates[0].schema.type")][0].startswith("not a valid JSON Schema")
    assert "second default" in found[(15, "templates[1].default")][0]
    assert found[(16, "templates[1].schema.properties.max-instances.maximum")][0].startswith(
        "not a valid JSON Schema"
    )
    assert all(p.line is not None and p.column is not None for p in problems)


def test_wrong_shapes() -> None:
    _, problems = parse_platform_text("- a\n- b\n", "p.yaml")
    assert problems[0].message.startswith("a platform file must be a mapping")
    _, problems = parse_platform_text("apiVersion: x\nkind: Y\nenvironments: []\n", "p.yaml")
    assert [(p.line, p.path) for p in problems] == [
        (1, "apiVersion"),
        (2, "kind"),
        (3, "environments"),
        (1, "templates"),
    ]
