"""Argument lists for the docker/podman CLI: pure functions, unit-tested. Every
image, path and container name comes after ``--``, so none is read as an option."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from shipyard.targets.local.containers import BuildSpec, ContainerSpec, EngineKind, HealthCheck
from shipyard.targets.local.resources import parse_memory

__all__ = [
    "build_args",
    "filter_args",
    "health_args",
    "push_args",
    "run_args",
]


def _labels(labels: Mapping[str, str]) -> list[str]:
    return [arg for key, value in sorted(labels.items()) for arg in ("--label", f"{key}={value}")]


def filter_args(labels: Mapping[str, str]) -> list[str]:
    return [
        arg for key, value in sorted(labels.items()) for arg in ("--filter", f"label={key}={value}")
    ]


def build_args(spec: BuildSpec) -> list[str]:
    dockerfile = (
        spec.dockerfile if spec.dockerfile.is_absolute() else spec.context / spec.dockerfile
    )
    args = ["build", "--file", str(dockerfile), "--tag", spec.reference, *_labels(spec.labels)]
    for key, value in sorted(spec.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    return [*args, "--", str(spec.context)]


def push_args(
    kind: EngineKind, reference: str, *, tls_verify: bool, digest_file: Path | None = None
) -> list[str]:
    args = ["push"]
    if kind == "podman":  # docker decides both in its daemon; it prints the digest instead
        if not tls_verify:
            args.append("--tls-verify=false")
        if digest_file is not None:
            args += ["--digestfile", str(digest_file)]
    return [*args, "--", reference]


def _seconds(value: float) -> str:
    return f"{value:g}s"


def health_args(kind: EngineKind, check: HealthCheck) -> list[str]:
    # podman takes the exec form as a JSON array; docker's flag always runs a shell.
    command = json.dumps(list(check.command)) if kind == "podman" else shlex.join(check.command)
    return [
        "--health-cmd",
        command,
        "--health-interval",
        _seconds(check.interval_s),
        "--health-timeout",
        _seconds(check.timeout_s),
        "--health-retries",
        str(check.retries),
        "--health-start-period",
        _seconds(check.start_period_s),
    ]


def run_args(kind: EngineKind, spec: ContainerSpec) -> list[str]:
    args = ["run", "--detach", "--init", "--name", spec.name, *_labels(spec.labels)]
    for port in spec.ports:
        host = f"{port.host_ip}:{port.host_port or ''}"
        args += ["--publish", f"{host}:{port.container_port}/{port.protocol}"]
    for key, value in sorted(spec.env.items()):
        args += ["--env", f"{key}={value}"]
    if spec.cpus is not None:
        args += ["--cpus", f"{spec.cpus:g}"]
    if spec.memory is not None:
        args += ["--memory", str(parse_memory(spec.memory))]
    if spec.health_check is not None:
        args += health_args(kind, spec.health_check)
    for mount in spec.mounts:
        args += ["--mount", mount.option()]
    return [*args, "--", spec.image, *spec.command]
