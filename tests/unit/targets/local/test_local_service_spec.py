"""A resolved desired state -> the service spec the local program runs (no tools run)."""

from __future__ import annotations

import pytest

from shipyard.catalog import Component, resolve
from shipyard.catalog.backstage import read_descriptor_text
from shipyard.catalog.platform import parse_platform_text
from shipyard.catalog.score import parse_workload_text
from shipyard.targets.local.service_spec import (
    ServiceSpec,
    UnsupportedWorkloadError,
    container_name,
    service_spec,
)

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - {name: dev, target: local, autoDeploy: true}
templates:
  - {name: web, default: true, settings: {cpu: 500m, memory: 64Mi}}
"""

SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: greeter}
containers:
  main:
    image: .
    args: ["httpd", "-f"]
    variables: {GREETING: hello}
    readinessProbe: {httpGet: {path: /ready, port: 8080}}
service:
  ports:
    http: {port: 80, targetPort: 8080}
    admin: {port: 9090}
"""


def component() -> Component:
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: greeter\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: team\n"
    )
    (found,) = read_descriptor_text(text, "catalog-info.yaml", None).components
    return found


def spec(score: str = SCORE, image_id: str = "sha256:aa") -> ServiceSpec:
    platform, _ = parse_platform_text(PLATFORM, "platform.yaml")
    workload, problems = parse_workload_text(score, "score.yaml")
    assert platform is not None and workload is not None, problems
    desired = resolve(component(), "dev", platform, workload=workload)
    return service_spec(desired, image_id=image_id, image="localhost/x:v1", digest="d", tag="v1")


def test_the_workload_becomes_the_container_spec() -> None:
    got = spec()
    assert (got.component, got.environment) == ("default/greeter", "dev")
    assert (got.port, got.other_ports) == (8080, (9090,))
    assert got.env == {"GREETING": "hello"}
    assert got.args == ("httpd", "-f")
    assert (got.cpus, got.memory, got.health_path) == (0.5, "64Mi", "/ready")
    assert ServiceSpec.from_inputs(got.inputs()) == got


def test_the_spec_hash_covers_what_runs_not_its_name() -> None:
    assert spec().spec_hash() == spec().spec_hash()
    assert spec().spec_hash() != spec(image_id="sha256:bb").spec_hash()


def test_container_names_are_deterministic_and_engine_safe() -> None:
    assert container_name("Team-A/Orders_API", "prod", 3) == "shipyard-team-a-orders_api-prod-r3"


def test_an_entrypoint_override_is_refused_with_a_way_out() -> None:
    score = SCORE.replace('args: ["httpd", "-f"]', 'command: ["/bin/sh"]')
    with pytest.raises(UnsupportedWorkloadError, match="ENTRYPOINT"):
        spec(score)
