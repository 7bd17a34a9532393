"""docker/podman argument lists, built without running anything."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.targets.local._cli_args import build_args, filter_args, push_args, run_args
from shipyard.targets.local.containers import BuildSpec, ContainerSpec, HealthCheck, PortMapping

LABELS = {"shipyard.dev/tag": "v1", "shipyard.dev/component": "default/greeter"}


def test_build_args_carry_file_tag_labels_and_context() -> None:
    spec = BuildSpec(
        "localhost/default/greeter:v1",
        Path("/src"),
        Path("docker/Dockerfile"),
        LABELS,
        {"VERSION": "1"},
    )
    assert build_args(spec) == [
        "build",
        "--file",
        "/src/docker/Dockerfile",
        "--tag",
        "localhost/default/greeter:v1",
        "--label",
        "shipyard.dev/component=default/greeter",
        "--label",
        "shipyard.dev/tag=v1",
        "--build-arg",
        "VERSION=1",
        "--",
        "/src",
    ]


def test_an_absolute_dockerfile_is_kept() -> None:
    args = build_args(BuildSpec("x:1", Path("/src"), Path("/elsewhere/Dockerfile")))
    assert args[1:3] == ["--file", "/elsewhere/Dockerfile"]


def test_run_args_publish_on_loopback_and_set_limits() -> None:
    spec = ContainerSpec(
        name="greeter-dev-1",
        image="localhost/default/greeter:v1",
        ports=(PortMapping(8080, 18080), PortMapping(9090)),
        env={"B": "2", "A": "1"},
        command=("httpd", "-f"),
        cpus=0.5,
        memory="64Mi",
        labels={"k": "v"},
    )
    assert run_args("podman", spec) == [
        "run",
        "--detach",
        "--init",
        "--name",
        "greeter-dev-1",
        "--label",
        "k=v",
        "--publish",
        "127.0.0.1:18080:8080/tcp",
        "--publish",
        "127.0.0.1::9090/tcp",
        "--env",
        "A=1",
        "--env",
        "B=2",
        "--cpus",
        "0.5",
        "--memory",
        str(64 * 2**20),
        "--",
        "localhost/default/greeter:v1",
        "httpd",
        "-f",
    ]


def test_health_check_is_exec_form_for_podman_and_a_shell_line_for_docker() -> None:
    check = HealthCheck(("/bin/busybox", "wget", "-q", "http://127.0.0.1:8080/"), 2, 1, 3)
    spec = ContainerSpec(name="c", image="i", health_check=check)
    podman = run_args("podman", spec)
    docker = run_args("docker", spec)
    assert json.loads(podman[podman.index("--health-cmd") + 1]) == list(check.command)
    assert docker[docker.index("--health-cmd") + 1] == (
        "/bin/busybox wget -q http://127.0.0.1:8080/"
    )
    assert podman[podman.index("--health-interval") + 1] == "2s"


def test_filters_and_push() -> None:
    assert filter_args({"b": "2", "a": "1"}) == ["--filter", "label=a=1", "--filter", "label=b=2"]
    assert push_args("podman", "127.0.0.1:5000/a/b:1", tls_verify=False) == [
        "push",
        "--tls-verify=false",
        "--",
        "127.0.0.1:5000/a/b:1",
    ]
    assert push_args("docker", "r/a/b:1", tls_verify=False) == ["push", "--", "r/a/b:1"]


def test_no_image_path_or_name_is_read_as_an_option() -> None:
    """Whatever a value holds, it comes after ``--``: the engine cannot take it as a flag."""
    hostile = "--privileged"
    built = build_args(BuildSpec(hostile, Path("-v/x"), Path("Dockerfile")))
    assert built.index("--") == len(built) - 2 and built[-1] == "-v/x"
    ran = run_args("podman", ContainerSpec(name="c", image=hostile, command=("--rm",)))
    assert ran[ran.index("--") + 1 :] == [hostile, "--rm"]
    assert "--privileged" not in ran[: ran.index("--")]
    pushed = push_args("docker", hostile, tls_verify=True)
    assert pushed == ["push", "--", hostile]
