"""A component of the local target as a developer writes it (catalog-info.yaml and
score.yaml beside a platform.yaml), resolved by the catalog's real ``resolve``; and the
settings a test's LocalTarget runs with. Shared by the flow tests, their crash child and
the benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.catalog import DesiredState, load_components, load_platform, resolve
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings

__all__ = [
    "PLATFORM",
    "SLOW_START_DOCKERFILE",
    "component_state",
    "flow_settings",
    "settings_from_json",
    "settings_to_json",
    "write_component",
]

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
    autoDeploy: true
templates:
  - name: web-service
    default: true
    settings:
      tag-pattern: '^v\\d+$'
      cpu: 500m
      memory: 64Mi
"""

SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: {name}
containers:
  main:
    image: .
    variables:
      GREETING: hello
    readinessProbe:
      httpGet:
        path: /version
        port: 8080
service:
  ports:
    http:
      port: 80
      targetPort: 8080
"""

CATALOG_INFO = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations:
    shipyard.dev/source: '{source}'
spec:
  type: service
  lifecycle: experimental
  owner: group:default/team-tests
"""

SLOW_START_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["sh", "-c", "/bin/busybox sleep 2; exec /bin/busybox httpd -f -p 8080 -h /www"]
"""
"""Serves like the default test image, but only 2 s after it starts (a window in which
a deploy is "starting the new revision")."""


def write_component(directory: Path, name: str, source: Path) -> Path:
    """catalog-info.yaml + score.yaml + platform.yaml in ``directory``; the catalog file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "platform.yaml").write_text(PLATFORM)
    (directory / "score.yaml").write_text(SCORE.format(name=name))
    catalog = directory / "catalog-info.yaml"
    catalog.write_text(CATALOG_INFO.format(name=name, source=source))
    return catalog


def component_state(directory: Path, environment: str = "dev") -> DesiredState:
    (component,) = load_components(directory / "catalog-info.yaml")
    return resolve(component, environment, load_platform(directory / "platform.yaml"))


def flow_settings(root: Path, proxy_admin_url: str) -> Settings:
    """Everything under ``root``, except the Pulumi CLI: the one already resolved.
    Repositories under ``root`` may be read by path (``source_roots``)."""
    return Settings(
        data_dir=root / "data",
        cache_dir=root / "cache",
        pulumi=ensure_pulumi(Settings()).path,
        proxy_admin_url=proxy_admin_url,
        backend_url=None,
        secrets_provider=None,
        registry=None,
        container_engine=None,
        source_roots=[root],
    )


def settings_to_json(settings: Settings) -> str:
    return settings.model_dump_json()


def settings_from_json(text: str) -> Settings:
    data: dict[str, Any] = json.loads(text)
    return Settings(**data)
