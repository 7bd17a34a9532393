"""Small, valid input files for tests: a platform and component descriptors."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PLATFORM_YAML", "write_component", "write_platform"]

PLATFORM_YAML = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
    autoDeploy: true
  - name: staging
    target: local
templates:
  - name: web-service
    default: true
    settings:
      port: 8080
      tag-pattern: '^v\\d+\\.\\d+\\.\\d+$'
      max-instances: 3
    schema:
      type: object
      properties:
        max-instances: {type: integer, minimum: 1, maximum: 10}
"""

_COMPONENT_YAML = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  namespace: {namespace}
  annotations:
    shipyard.dev/max-instances: "{max_instances}"{source}
spec:
  type: service
  lifecycle: production
  owner: group:default/team-orders
"""


def write_platform(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PLATFORM_YAML)
    return path


def write_component(
    directory: Path,
    name: str,
    *,
    namespace: str = "default",
    max_instances: int = 2,
    source: Path | str | None = None,
) -> Path:
    """``<directory>/catalog-info.yaml`` describing one component (``source``: its
    ``shipyard.dev/source``); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "catalog-info.yaml"
    annotation = f"\n    shipyard.dev/source: '{source}'" if source is not None else ""
    text = _COMPONENT_YAML.format(
        name=name, namespace=namespace, max_instances=max_instances, source=annotation
    )
    path.write_text(text)
    return path
