"""Failed docker/podman commands become typed errors that say what to do."""

from __future__ import annotations

import pytest

from shipyard._process import Completed
from shipyard.targets.local._cli_errors import build_error, engine_error
from shipyard.targets.local.errors import (
    ContainerEngineError,
    ContainerEngineMissingError,
    ContainerExistsError,
    ContainerNotFoundError,
    ImageNotFoundError,
    LocalTargetError,
    PortInUseError,
)


def failed(stderr: str) -> Completed:
    return Completed(("podman", "run", "--detach"), 126, "", stderr)


@pytest.mark.parametrize(
    ("stderr", "error", "message"),
    [
        (
            "Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:18080: bind: address "
            "already in use",
            PortInUseError,
            "127.0.0.1:18080 is already in use",
        ),
        (
            "docker: Error response from daemon: driver failed programming external connectivity:"
            " Bind for 0.0.0.0:8080 failed: port is already allocated.",
            PortInUseError,
            "0.0.0.0:8080 is already in use",
        ),
        (
            'Error: creating container storage: the container name "web" is already in use by '
            "abc. You have to remove that container",
            ContainerExistsError,
            "podman rm -f web",
        ),
        (
            'Error: no container with name or ID "web" found: no such container',
            ContainerNotFoundError,
            "no container web",
        ),
        ("Error: No such container: web", ContainerNotFoundError, "no container web"),
        ("Error: localhost/x:1: image not known", ImageNotFoundError, "build it first"),
        (
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
            "daemon running?",
            ContainerEngineMissingError,
            "install podman",
        ),
        ("Error: something odd", ContainerEngineError, "exit 126): Error: something odd"),
    ],
)
def test_engine_errors_are_mapped(stderr: str, error: type[LocalTargetError], message: str) -> None:
    mapped = engine_error("podman", failed(stderr), "web")
    assert type(mapped) is error
    assert message in str(mapped)


def test_build_error_ends_with_the_log_tail() -> None:
    log = "\n".join(f"step {n}" for n in range(100)) + "\nError: COPY failed: no-such-file"
    mapped = build_error(
        "podman", Completed(("podman", "build"), 125, log, ""), "x:1", "Dockerfile"
    )
    lines = str(mapped).splitlines()
    assert "building x:1 from Dockerfile failed" in lines[0]
    assert lines[-1] == "Error: COPY failed: no-such-file"
    assert "step 81" in lines and "step 80" not in lines  # 20 lines in all
    assert mapped.output == log
