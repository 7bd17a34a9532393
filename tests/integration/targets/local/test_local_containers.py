"""The docker/podman adapter against the real engine: build, run, inspect, errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.services.targets import for_jobs
from shipyard.settings import Settings
from shipyard.targets.local import (
    BuildSpec,
    CliContainerEngine,
    ContainerSpec,
    PortMapping,
    detect_container_engine,
    shipyard_labels,
)
from shipyard.targets.local.errors import (
    ContainerEngineMissingError,
    ContainerNotFoundError,
    ImageBuildError,
    PortInUseError,
)
from shipyard.targets.local.health import wait_until_healthy

pytestmark = pytest.mark.integration


def test_build_puts_shipyard_labels_on_the_image(
    containers: CliContainerEngine, make_repo: Callable[..., Any], test_run_labels: dict[str, str]
) -> None:
    repo = make_repo()
    commit = repo.release("v1")
    labels = {
        **test_run_labels,
        **shipyard_labels("default/greeter", environment="dev", tag="v1", commit=commit),
    }
    lines: list[str] = []
    image = containers.build(
        BuildSpec("localhost/shipyard-test/labels:v1", repo.path, labels=labels),
        on_line=lines.append,
    )

    assert image.labels["shipyard.dev/component"] == "default/greeter"
    assert image.labels["shipyard.dev/environment"] == "dev"
    assert image.labels["shipyard.dev/tag"] == "v1"
    assert image.labels["shipyard.dev/commit"] == commit
    assert image.id.startswith("sha256:")
    assert any("COPY" in line for line in lines), "build output is streamed line by line"
    assert [found.id for found in containers.list_images(labels)] == [image.id]


def test_run_serves_http_and_carries_labels(
    containers: CliContainerEngine,
    served_image: str,
    container_name: Callable[[str], str],
    test_run_labels: dict[str, str],
    free_port: Callable[[], int],
) -> None:
    port = free_port()
    labels = {**test_run_labels, **shipyard_labels("default/greeter", environment="dev")}
    spec = ContainerSpec(
        name=container_name("run"),
        image=served_image,
        ports=(PortMapping(8080, port),),
        env={"GREETING": "hello"},
        cpus=0.5,
        memory="64Mi",
        labels=labels,
    )
    info = containers.run(spec)

    assert info.running
    assert info.host_port(8080) == port
    assert info.labels["shipyard.dev/environment"] == "dev"
    response = wait_until_healthy(f"http://127.0.0.1:{port}/version", timeout_s=20)
    assert response.text == "v1"
    assert [found.name for found in containers.list_containers(labels)] == [spec.name]

    containers.stop(spec.name, timeout_s=5)
    assert not containers.inspect(spec.name).running
    containers.remove(spec.name)
    with pytest.raises(ContainerNotFoundError, match=spec.name):
        containers.inspect(spec.name)


def test_a_broken_dockerfile_gives_the_tail_of_the_build_log(
    containers: CliContainerEngine, tmp_path: Path, test_run_labels: dict[str, str]
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file /x\n")
    with pytest.raises(ImageBuildError) as caught:
        containers.build(
            BuildSpec("localhost/shipyard-test/broken:v1", tmp_path, labels=test_run_labels)
        )
    message = str(caught.value)
    assert "localhost/shipyard-test/broken:v1" in message
    assert "Last lines of the build log" in message
    assert "no-such-file" in message


def test_a_port_in_use_gives_a_clear_error_and_leaves_no_container(
    containers: CliContainerEngine,
    served_image: str,
    container_name: Callable[[str], str],
    test_run_labels: dict[str, str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec = ContainerSpec(
            name=container_name("busy-port"),
            image=served_image,
            ports=(PortMapping(8080, port),),
            labels=test_run_labels,
        )
        with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{port} is already in use"):
            containers.run(spec)
    with pytest.raises(ContainerNotFoundError):
        containers.inspect(spec.name)


def test_an_engine_that_does_not_exist_names_what_to_install(tmp_path: Path) -> None:
    settings = Settings(container_engine=str(tmp_path / "bin" / "podman"))
    with pytest.raises(ContainerEngineMissingError, match=r"apt-get install podman"):
        detect_container_engine(settings)

    vanished = CliContainerEngine(tmp_path / "bin" / "docker", "docker")
    with pytest.raises(ContainerEngineMissingError, match=r"install podman"):
        vanished.inspect("anything")


def test_jobs_get_the_engine_their_worker_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detected = detect_container_engine(Settings())

    pinned = for_jobs(Settings(data_dir=tmp_path))

    assert pinned.container_engine == str(detected.binary)
    assert detect_container_engine(pinned) == detected  # what a job's process then uses
    chosen = Settings(data_dir=tmp_path, container_engine="podman")
    assert for_jobs(chosen).container_engine == "podman"  # a configured one is kept
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # none works: the job says so
    assert for_jobs(Settings(data_dir=tmp_path)).container_engine is None


def test_logs_of_a_container(
    containers: CliContainerEngine,
    served_image: str,
    container_name: Callable[[str], str],
    test_run_labels: dict[str, str],
) -> None:
    spec = ContainerSpec(
        name=container_name("logs"),
        image=served_image,
        command=("echo", "hello from busybox"),
        labels=test_run_labels,
    )
    containers.run(spec)
    assert "hello from busybox" in _logs_when_exited(containers, spec.name)


def _logs_when_exited(containers: CliContainerEngine, name: str) -> str:
    deadline = time.monotonic() + 20
    while containers.inspect(name).running:
        assert time.monotonic() < deadline, f"{name} still running after 20 s"
        time.sleep(0.05)
    return containers.logs(name)
