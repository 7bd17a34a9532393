"""Turn a failed docker/podman command into the local target's typed error."""

from __future__ import annotations

import re
from typing import TypeVar

from shipyard.targets.local._process import Completed
from shipyard.targets.local.errors import (
    CommandFailedError,
    ContainerEngineError,
    ContainerEngineMissingError,
    ContainerExistsError,
    ContainerNotFoundError,
    ImageBuildError,
    ImageNotFoundError,
    ImagePushError,
    LocalTargetError,
    PortInUseError,
)

__all__ = [
    "BUILD_LOG_TAIL",
    "build_error",
    "engine_error",
    "log_tail",
    "push_error",
    "pushed_digest",
]

BUILD_LOG_TAIL = 20
"""How many lines of the build log a build error carries."""

_PORT_IN_USE = re.compile(r"address already in use|port is already allocated", re.IGNORECASE)
_PORT_ADDRESS = re.compile(r"(?:tcp4?|udp4?|for)\s+(\S+?:\d+)", re.IGNORECASE)
_NAME_IN_USE = re.compile(r"name \"?/?([^\"\s]+)\"? is already in use", re.IGNORECASE)
_NO_CONTAINER = re.compile(r"no such container|no container with name or id", re.IGNORECASE)
_NO_IMAGE = re.compile(
    r"no such image|image not known|failed to find image|unable to find image", re.IGNORECASE
)
_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_NO_DAEMON = re.compile(r"cannot connect to the docker daemon", re.IGNORECASE)


_E = TypeVar("_E", bound=CommandFailedError)


def _error(cls: type[_E], message: str, done: Completed) -> _E:
    return cls(message, args=done.args, returncode=done.returncode, output=done.output)


def log_tail(output: str, lines: int = BUILD_LOG_TAIL) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def _last_line(output: str) -> str:
    return log_tail(output, 1) or "(no output)"


def engine_error(engine: str, done: Completed, subject: str) -> LocalTargetError:
    """The error for a failed ``engine`` command about ``subject`` (a container or image)."""
    output = done.output
    if _NO_DAEMON.search(output):
        return ContainerEngineMissingError(
            f"the docker engine does not answer ({_last_line(output)}): start it, or install "
            "podman (`apt-get install podman runc`) and set SHIPYARD_CONTAINER_ENGINE=podman"
        )
    if _PORT_IN_USE.search(output):
        address = _PORT_ADDRESS.search(output)
        where = address.group(1) if address else "a published port"
        return _error(
            PortInUseError,
            f"container {subject}: {where} is already in use on this machine: stop what "
            "listens there (`ss -ltnp`) or publish another port",
            done,
        )
    if name := _NAME_IN_USE.search(output):
        return _error(
            ContainerExistsError,
            f"a container named {name.group(1)} already exists: remove it "
            f"(`{engine} rm -f {name.group(1)}`) or pick another name",
            done,
        )
    if _NO_CONTAINER.search(output):
        return _error(
            ContainerNotFoundError,
            f"no container {subject} ({engine}): it was removed or never started",
            done,
        )
    if _NO_IMAGE.search(output):
        return _error(
            ImageNotFoundError,
            f"no image {subject} ({engine}): build it first (no image can be pulled here)",
            done,
        )
    return _error(
        ContainerEngineError,
        f"`{engine} {' '.join(done.args[1:3])}` failed for {subject} (exit "
        f"{done.returncode}): {_last_line(output)}",
        done,
    )


def build_error(engine: str, done: Completed, reference: str, dockerfile: str) -> ImageBuildError:
    output = done.output
    return ImageBuildError(
        f"building {reference} from {dockerfile} failed ({engine} exit {done.returncode}); "
        f"fix the Dockerfile or the build context. Last lines of the build log:\n"
        f"{log_tail(output)}",
        args=done.args,
        returncode=done.returncode,
        output=output,
    )


def push_error(engine: str, done: Completed, reference: str) -> ImagePushError:
    output = done.output
    return ImagePushError(
        f"pushing {reference} failed ({engine} exit {done.returncode}): {_last_line(output)}; "
        "check the registry setting and that the registry is up",
        args=done.args,
        returncode=done.returncode,
        output=output,
    )


def pushed_digest(engine: str, done: Completed, reference: str) -> str:
    """The registry digest a successful push printed (docker: ``...: digest: sha256:...``)."""
    found = _PUSHED_DIGEST.findall(done.output)
    if not found:
        raise _error(
            ImagePushError,
            f"pushing {reference} with {engine} succeeded but printed no digest: "
            f"check the registry with `{engine} manifest inspect {reference}`",
            done,
        )
    return str(found[-1])
