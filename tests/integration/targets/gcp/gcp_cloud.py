"""Shared by the gcp flow tests: a platform with two gcp environments (dev and prod, in
their own projects) and the fake Google with the gcp target wired to it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shipyard.catalog import DesiredState
from shipyard.targets.gcp.flow import GcpTarget
from shipyard.testing.google_fake import FakeEngine, FakeGoogle

PLATFORM = r"""
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: gcp
    settings: {gcp-project: acme-dev, region: europe-west1}
  - name: prod
    target: gcp
    settings: {gcp-project: acme-prod, region: europe-west4, min-instances: 1}
templates:
  - name: web-service
    default: true
    settings: {port: 8080, tag-pattern: '^v\d+\.\d+\.\d+$'}
"""
SLUG = {"github.com/project-slug": "acme/orders-api"}
REMOTE = "https://github.com/acme/orders-api.git"
SCORE = """apiVersion: score.dev/v1b1
metadata: {name: orders-api}
containers:
  api:
    image: .
    readinessProbe: {httpGet: {path: /ready, port: 8080}}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}}
"""


def _descriptor(name: str, namespace: str, annotations: Mapping[str, str]) -> str:
    lines = "\n".join(f"    {key}: '{value}'" for key, value in annotations.items())
    return f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  namespace: {namespace}
  annotations:
{lines}
spec:
  type: service
  lifecycle: production
  owner: group:default/team
"""


Resolver = Callable[..., DesiredState]


@dataclass
class Cloud:
    google: FakeGoogle
    engine: FakeEngine
    target: GcpTarget
