"""Score ``files`` on the local target: a running container really sees each file (inline
content with its placeholders resolved, a ``source`` file beside score.yaml) with its
content and mode, read-only; a changed file makes a new revision."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flow_world import SCORE, component_state, flow_settings, write_component

from shipyard.targets.local import CliContainerEngine
from shipyard.targets.local.flow import LocalTarget
from shipyard.targets.local.labels import COMPONENT
from shipyard.targets.local.proxy import Proxy

pytestmark = pytest.mark.integration

FILES = """\
    files:
      /www/motd.txt:
        content: "hello from ${metadata.name}"
        mode: "0640"
      /www/conf/app.ini:
        source: config/app.ini
      /www/raw.txt:
        content: "kept as ${written}"
        noExpand: true
"""
ARGS = """\
    args:
      - sh
      - -c
      - >-
        /bin/busybox stat -c '%a %n' /www/motd.txt /www/raw.txt /www/conf/app.ini > /www/modes;
        (echo x > /www/motd.txt) 2> /www/write-error;
        exec /bin/busybox httpd -f -p 8080 -h /www
"""
"""The container reports what it sees at start (``exec`` into it is not possible on every
machine): the files' modes, and what writing one says; then it serves /www."""


@pytest.fixture
def caddy(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Proxy]:
    with Proxy(tmp_path / "data" / "local", admin_address=f"127.0.0.1:{free_port()}") as proxy:
        yield proxy


def _score(name: str, motd: str = "hello from ${metadata.name}") -> str:
    files = FILES.replace("hello from ${metadata.name}", motd)
    score = SCORE.format(name=name).replace("    readinessProbe:", files + "    readinessProbe:")
    return score.replace("    variables:", ARGS + "    variables:")


def _get(url: str) -> str:
    response = httpx.get(url, timeout=5.0, trust_env=False)
    response.raise_for_status()
    return response.text


def test_files_are_mounted_with_content_and_mode_and_a_change_makes_a_revision(
    tmp_path: Path,
    caddy: Proxy,
    make_repo: Callable[..., object],
    containers: CliContainerEngine,
    test_run_labels: dict[str, str],
) -> None:
    name = f"files-{uuid.uuid4().hex[:8]}"
    repo = make_repo()
    repo.release("v1")  # type: ignore[attr-defined]
    catalog = tmp_path / "catalog"
    write_component(catalog, name, repo.path)  # type: ignore[attr-defined]
    (catalog / "config").mkdir()
    (catalog / "config" / "app.ini").write_text("[app]\nname=${metadata.name}\n")
    (catalog / "score.yaml").write_text(_score(name))
    settings = flow_settings(tmp_path, caddy.admin_url)
    target = LocalTarget.from_settings(
        settings, containers=containers, labels=test_run_labels, health_timeout_s=30.0
    )
    try:
        with target:
            first = target.deploy(component_state(catalog), "v1")
            container = str(target.engine.outputs(first.stack)["container"].value)

            assert _get(f"{first.url}/version") == "v1"
            assert _get(f"{first.url}/motd.txt") == f"hello from {name}"
            assert _get(f"{first.url}/conf/app.ini") == f"[app]\nname={name}\n"
            assert _get(f"{first.url}/raw.txt") == "kept as ${written}"
            assert _get(f"{first.url}/modes").splitlines() == [
                "640 /www/motd.txt",
                "600 /www/raw.txt",
                "600 /www/conf/app.ini",
            ]
            assert "Read-only file system" in _get(f"{first.url}/write-error")
            folder = settings.data_dir / "local" / "revisions" / container
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            assert sorted(stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()) == [
                0o600,
                0o600,
                0o640,
            ]

            (catalog / "score.yaml").write_text(_score(name, motd="changed for ${metadata.name}"))
            second = target.deploy(component_state(catalog), "v1")

            assert second.revision == first.revision + 1
            assert _get(f"{second.url}/motd.txt") == f"changed for {name}"
            assert not folder.exists(), "the old revision's files went with its container"
            unchanged = target.deploy(component_state(catalog), "v1")
            assert unchanged.revision == second.revision

            target.destroy(component_state(catalog), remove_images=True)
            assert list((settings.data_dir / "local" / "revisions").iterdir()) == []
    finally:
        for leftover in containers.list_containers({COMPONENT: f"default/{name}"}):
            containers.remove(leftover.id)
