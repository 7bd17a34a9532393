"""Real platform and catalog files in a temp dir, resolved with the real ``resolve``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from shipyard.catalog import DesiredState, load_components, load_platform, resolve

PLATFORM = r"""
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
  - name: staging
    target: gcp
    settings: {gcp-project: acme-staging, region: europe-west4}
  - name: prod
    target: gcp
    settings: {gcp-project: acme-prod, region: europe-west1, min-instances: 1,
               deletion-protection: true, keep-versions: 30}
    schema: {properties: {min-instances: {minimum: 1}}}
templates:
  - name: web-service
    default: true
    settings:
      port: 8080
      tag-pattern: '^v\d+\.\d+\.\d+$'
      cpu: "1"
      memory: 512Mi
      min-instances: 0
      max-instances: 3
      public: false
    schema:
      type: object
      properties:
        region: {enum: [europe-west1, europe-west4]}
        max-instances: {type: integer, minimum: 1, maximum: 10}
        public: {const: false}
  - name: public-site
    settings:
      port: 3000
      tag-pattern: '^release-\d+$'
      cpu: "2"
      memory: 1Gi
      max-instances: 5
      public: true
      ingress: all
  - name: internal-worker
    settings:
      port: 9000
      ingress: internal
      gcp-connection: acme-gitlab
      cloudbuild-file: deploy/cloudbuild.yaml
"""


def descriptor(name: str, annotations: Mapping[str, str]) -> str:
    lines = "\n".join(f"    {key}: '{value}'" for key, value in annotations.items())
    return f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations:
{lines}
spec:
  type: service
  lifecycle: production
  owner: group:default/team
"""


Resolver = Callable[..., DesiredState]


@pytest.fixture
def write_component(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write platform.yaml and ``<name>/catalog-info.yaml``; return both paths."""

    def write(
        name: str, annotations: Mapping[str, str], *, score: str | None = None
    ) -> tuple[Path, Path]:
        platform = tmp_path / "platform.yaml"
        platform.write_text(PLATFORM)
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        (folder / "catalog-info.yaml").write_text(descriptor(name, annotations))
        if score is not None:
            (folder / "score.yaml").write_text(score)
        return folder / "catalog-info.yaml", platform

    return write


@pytest.fixture
def desired(write_component: Callable[..., tuple[Path, Path]]) -> Resolver:
    """``desired(name, env, annotations)``: the real resolve of a component in a temp dir."""

    def make(
        name: str, environment: str, annotations: Mapping[str, str], score: str | None = None
    ) -> DesiredState:
        catalog, platform_file = write_component(name, annotations, score=score)
        (component,) = load_components(catalog)
        return resolve(component, environment, load_platform(platform_file))

    return make
