"""A Shipyard control plane for the use-case tests: the real API, real worker threads,
a Caddy of the test's own, a git repository to tag; everything removed by label."""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shipyard.engine.toolchain import ensure_pulumi
from shipyard.jobs import HandlerRegistry
from shipyard.jobs.worker import run_workers
from shipyard.services.handlers import register_handlers
from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.targets.local import detect_container_engine
from shipyard.targets.local.labels import COMPONENT
from shipyard.targets.local.proxy import Proxy
from shipyard.testing.api import Api, serve_api, serve_process

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
    autoDeploy: true
  - name: prod
    target: gcp
    settings: {gcp-project: acme-prod, region: europe-west1}
templates:
  - name: web-service
    default: true
    settings:
      tag-pattern: '^v\\\\d+$'
      cpu: 500m
      memory: 64Mi
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

SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: {name}
containers:
  main:
    image: .
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

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@t.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class ControlPlane:
    api: Api
    settings: Settings
    name: str
    repo: Path
    catalog: Path

    def release(self, tag: str) -> str:
        """Commit ``www/version`` = ``tag`` and tag it; the commit."""
        (self.repo / "www" / "version").write_text(tag)
        git(self.repo, "add", "--all")
        git(self.repo, "commit", "--quiet", "-m", tag)
        git(self.repo, "tag", tag)
        return git(self.repo, "rev-parse", "HEAD")

    def answer(self, url: str) -> str:
        response = httpx.get(f"{url}/version", timeout=5.0, trust_env=False)
        response.raise_for_status()
        return response.text


@contextmanager
def open_control_plane(
    tmp_path: Path,
    *,
    platform: str = PLATFORM,
    workers: int = 1,
    served: bool = False,
    settings_overrides: dict[str, Any] | None = None,
) -> Iterator[ControlPlane]:
    """The API, ``workers`` worker threads and a Caddy on ``platform``; everything the
    component made is removed by label at the end. ``served``: the API and workers run in
    a ``shipyard serve`` process, with the product's defaults (for the benchmarks).
    ``settings_overrides``: more settings (a database URL, secrets...)."""
    name = f"svc-{uuid.uuid4().hex[:8]}"
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    shutil.copy("/bin/busybox", repo / "busybox")
    (repo / "www").mkdir()
    (repo / "Dockerfile").write_text(DOCKERFILE)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "catalog-info.yaml").write_text(CATALOG_INFO.format(name=name, source=repo))
    (catalog / "score.yaml").write_text(SCORE.format(name=name))
    (tmp_path / "platform.yaml").write_text(platform)
    containers = detect_container_engine(Settings())
    with Proxy(tmp_path / "caddy", admin_address=_admin()) as proxy:
        settings = Settings(
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            pulumi=ensure_pulumi(Settings()).path,
            proxy_admin_url=proxy.admin_url,
            platform=tmp_path / "platform.yaml",
            backend_url=None,
            secrets_provider=None,
            registry=None,
            source_roots=[tmp_path],
        ).model_copy(update=settings_overrides or {})
        database = open_database(settings)
        stop = threading.Event()
        worker_threads = threading.Thread(
            target=run_workers,
            args=(settings, workers, stop),
            kwargs={"handlers": register_handlers(HandlerRegistry()), "poll_interval": 0.05},
            name="test-workers",
        )
        try:
            if served:
                with serve_process(settings, database, workers=workers) as api:
                    yield ControlPlane(api, settings, name, repo, catalog)
            else:
                with serve_api(settings, database) as api:
                    worker_threads.start()
                    yield ControlPlane(api, settings, name, repo, catalog)
        finally:
            stop.set()
            if worker_threads.is_alive():
                worker_threads.join(120)
            database.dispose()
            for container in containers.list_containers({COMPONENT: f"default/{name}"}):
                containers.remove(container.id)
            for image in containers.list_images(
                {COMPONENT: f"default/{name}"}, include_untagged=True
            ):
                containers.remove_image(image.id)
            assert containers.list_containers({COMPONENT: f"default/{name}"}) == []


def _admin() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
