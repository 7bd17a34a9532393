"""Builds pushed to a configured registry: Debian's docker-registry on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.targets.local import BuildRequest, CliContainerEngine, GitSources, ImageBuilder
from shipyard.targets.local.health import wait_until_healthy

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: run scripts/setup-container-engine.sh")
    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )
    with subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        try:
            wait_until_healthy(f"http://{address}/v2/", timeout_s=20)
            yield address
        finally:
            process.terminate()
            process.wait(10)


def test_a_build_is_pushed_when_a_registry_is_configured(
    containers: CliContainerEngine,
    sources: GitSources,
    make_repo: Callable[..., Any],
    registry: str,
    test_run_labels: dict[str, str],
) -> None:
    repo = make_repo()
    repo.release("v1.0.0")
    lines: list[str] = []

    built = ImageBuilder(containers, sources, registry=registry).build(
        BuildRequest("default/greeter", str(repo.path), "v1.0.0", labels=test_run_labels),
        on_line=lines.append,
    )

    assert built.pushed
    assert built.reference == f"{registry}/default/greeter:v1.0.0"
    assert built.digest.startswith("sha256:")
    tags = httpx.get(f"http://{registry}/v2/default/greeter/tags/list", trust_env=False)
    assert tags.json()["tags"] == ["v1.0.0"]
    manifest = httpx.head(
        f"http://{registry}/v2/default/greeter/manifests/{built.digest}",
        trust_env=False,
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    assert manifest.status_code == 200
