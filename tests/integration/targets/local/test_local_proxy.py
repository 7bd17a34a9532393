"""The Caddy proxy: stable URLs, an upstream switch under load with 0 failed requests,
routes restored after Caddy dies or Shipyard restarts."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from request_loop import RequestLoop, require_zero_drop_switches

from shipyard.targets.local import CliContainerEngine, ContainerSpec, PortMapping
from shipyard.targets.local.health import wait_until_healthy
from shipyard.targets.local.proxy import Proxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Proxy]:
    with Proxy(tmp_path / "proxy", admin_address=f"127.0.0.1:{free_port()}") as started:
        yield started


@pytest.fixture
def revision(
    containers: CliContainerEngine,
    release_images: dict[str, str],
    container_name: Callable[[str], str],
    test_run_labels: dict[str, str],
    free_port: Callable[[], int],
) -> Callable[..., str]:
    """Start a container of the image of ``tag`` (it answers ``/version`` with the tag) and
    name it ``name`` (default: the tag); its upstream address."""

    def start(tag: str, name: str | None = None) -> str:
        port = free_port()
        containers.run(
            ContainerSpec(
                name=container_name(name or tag),
                image=release_images[tag],
                ports=(PortMapping(8080, port),),
                labels=test_run_labels,
            )
        )
        wait_until_healthy(f"http://127.0.0.1:{port}/version", timeout_s=20)
        return f"127.0.0.1:{port}"

    return start


def test_switching_upstream_under_load_fails_no_request(
    proxy: Proxy,
    revision: Callable[..., str],
    containers: CliContainerEngine,
    container_name: Callable[[str], str],
) -> None:
    route = proxy.set_route("default/greeter", "dev", revision("v1"))
    url = f"{route.url}/version"
    assert wait_until_healthy(url).text == "v1"
    rev2 = revision("v2")
    require_zero_drop_switches()

    with RequestLoop(url) as loop:
        loop.wait_for("v1")
        switched_at = len(loop.answers)
        assert proxy.set_route("default/greeter", "dev", rev2).url == route.url
        loop.wait_for("v2", after=switched_at)
        containers.stop(container_name("v1"), timeout_s=5)
        stopped_at = len(loop.answers)
        loop.wait_for("v2", after=stopped_at)

    assert loop.failures == []
    assert "v1" not in loop.answers[stopped_at:]


def test_routes_come_back_after_caddy_dies_and_after_a_restart(
    proxy: Proxy, revision: Callable[..., str], tmp_path: Path, free_port: Callable[[], int]
) -> None:
    route = proxy.set_route("default/greeter", "dev", revision("v1", "restore"))
    url = f"{route.url}/version"
    assert wait_until_healthy(url).text == "v1"

    pid = proxy.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until_healthy(url, timeout_s=20).text == "v1"
    assert proxy.pid not in (None, pid)

    proxy.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2.0, trust_env=False)
    with Proxy(tmp_path / "proxy", admin_address=f"127.0.0.1:{free_port()}") as again:
        assert again.route("default/greeter", "dev") == route
        assert wait_until_healthy(url).text == "v1"


def test_removing_a_route_closes_its_address(proxy: Proxy, revision: Callable[..., str]) -> None:
    route = proxy.set_route("default/greeter", "dev", revision("v1", "removed"))
    wait_until_healthy(f"{route.url}/version")
    proxy.remove_route("default/greeter", "dev")

    assert proxy.routes() == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{route.url}/version", timeout=2.0, trust_env=False)
