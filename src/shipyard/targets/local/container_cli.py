"""The docker/podman CLI as a :class:`~shipyard.targets.local.containers.ContainerEngine`.

The only code that runs docker or podman; every call goes through the one runner.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from shipyard.targets.local._cli_args import build_args, filter_args, push_args, run_args
from shipyard.targets.local._cli_errors import (
    build_error,
    engine_error,
    push_error,
    pushed_digest,
)
from shipyard.targets.local._inspect import parse_containers, parse_images
from shipyard.targets.local._process import Completed, OnLine, run_command
from shipyard.targets.local.containers import (
    BuildSpec,
    ContainerInfo,
    ContainerSpec,
    EngineKind,
    ImageInfo,
)
from shipyard.targets.local.errors import (
    ContainerEngineMissingError,
    ContainerExistsError,
    ContainerNotFoundError,
    ImageNotFoundError,
    LocalTargetError,
    ToolMissingError,
)

__all__ = ["INSTALL_HINT", "CliContainerEngine"]

INSTALL_HINT = (
    "install podman (`apt-get install podman runc`, or run scripts/setup-container-engine.sh) "
    "or docker, or point SHIPYARD_CONTAINER_ENGINE at one"
)

_log = structlog.get_logger(__name__)
_HOST_VARIABLE: dict[EngineKind, str] = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}


def _has_labels(found: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    # podman ORs repeated label filters where docker ANDs them: check them all here.
    return all(found.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True, slots=True)
class CliContainerEngine:
    """docker or podman driven through its CLI."""

    binary: Path
    kind: EngineKind
    timeout_s: float = 600.0
    host: str | None = None
    """The engine's API on another machine (``SHIPYARD_CONTAINER_HOST``), passed as
    ``DOCKER_HOST`` or ``CONTAINER_HOST``; None: this machine's engine."""

    def _run(self, args: Sequence[str], *, on_line: OnLine | None = None) -> Completed:
        env = None if self.host is None else {_HOST_VARIABLE[self.kind]: self.host}
        try:
            return run_command(
                [str(self.binary), *args], env=env, timeout=self.timeout_s, on_line=on_line
            )
        except ToolMissingError as exc:
            raise ContainerEngineMissingError(
                f"the container engine {self.binary} is not installed: {INSTALL_HINT}"
            ) from exc

    def problem(self, timeout_s: float = 10.0) -> str | None:
        """Why the engine does not answer (``info``, within ``timeout_s``); None if it does."""
        probe = dataclasses.replace(self, timeout_s=timeout_s)
        try:
            done = probe._run(["info"])
        except LocalTargetError as exc:
            return str(exc)
        if done.ok:
            return None
        where = f" at {self.host}" if self.host else ""
        return f"{self.kind}{where} does not answer: {done.output.strip()[-300:]}"

    def _checked(self, args: Sequence[str], subject: str) -> Completed:
        done = self._run(args)
        if not done.ok:
            raise engine_error(self.kind, done, subject)
        return done

    # images

    def build(self, spec: BuildSpec, *, on_line: OnLine | None = None) -> ImageInfo:
        _log.info("image.build", reference=spec.reference, context=str(spec.context))
        done = self._run(build_args(spec), on_line=on_line or (lambda _line: None))
        if not done.ok:
            raise build_error(self.kind, done, spec.reference, str(spec.dockerfile))
        return self.inspect_image(spec.reference)

    def inspect_image(self, reference: str) -> ImageInfo:
        done = self._checked(["image", "inspect", "--", reference], reference)
        images = parse_images(done.stdout)
        if not images:
            raise ImageNotFoundError(
                f"no image {reference} ({self.kind})",
                args=done.args,
                returncode=0,
                output=done.output,
            )
        return images[0]

    def push(
        self, reference: str, *, tls_verify: bool = True, on_line: OnLine | None = None
    ) -> str:
        _log.info("image.push", reference=reference)
        with tempfile.TemporaryDirectory(prefix="shipyard-push-") as tmp:
            digest_file = Path(tmp) / "digest"
            args = push_args(self.kind, reference, tls_verify=tls_verify, digest_file=digest_file)
            done = self._run(args, on_line=on_line or (lambda _line: None))
            if not done.ok:
                raise push_error(self.kind, done, reference)
            digest = digest_file.read_text().strip() if digest_file.exists() else None
        return digest or pushed_digest(self.kind, done, reference)

    def remove_image(self, reference: str) -> None:
        self._checked(["image", "rm", "--force", "--", reference], reference)

    def list_images(
        self, labels: Mapping[str, str], *, include_untagged: bool = False
    ) -> list[ImageInfo]:
        args = ["images", "--quiet", "--no-trunc", *filter_args(labels)]
        done = self._checked([*args, "--all"] if include_untagged else args, "images by label")
        ids = sorted(set(done.stdout.split()))
        if not ids:
            return []
        images = parse_images(self._checked(["image", "inspect", "--", *ids], "images").stdout)
        return [
            image
            for image in images
            if _has_labels(image.labels, labels) and (include_untagged or image.references)
        ]

    # containers

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        _log.info("container.run", name=spec.name, image=spec.image)
        done = self._run(run_args(self.kind, spec))
        if not done.ok:
            error = engine_error(self.kind, done, spec.name)
            self._remove_leftover(spec.name, error)
            raise error
        return self.inspect(spec.name)

    def _remove_leftover(self, name: str, cause: Exception) -> None:
        """A failed ``run`` can leave a created container behind; it must not linger."""
        if isinstance(cause, ContainerExistsError):
            return
        self._run(["rm", "--force", "--", name])

    def stop(self, name: str, *, timeout_s: int = 10) -> None:
        self._checked(["stop", "--time", str(timeout_s), "--", name], name)

    def remove(self, name: str) -> None:
        self._checked(["rm", "--force", "--", name], name)

    def inspect(self, name: str) -> ContainerInfo:
        done = self._checked(["container", "inspect", "--", name], name)
        containers = parse_containers(done.stdout)
        if not containers:
            raise ContainerNotFoundError(
                f"no container {name} ({self.kind})",
                args=done.args,
                returncode=0,
                output=done.output,
            )
        return containers[0]

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        done = self._checked(
            ["ps", "--all", "--quiet", "--no-trunc", *filter_args(labels)],
            "containers by label",
        )
        ids = sorted(set(done.stdout.split()))
        if not ids:
            return []
        containers = parse_containers(
            self._checked(["container", "inspect", "--", *ids], "containers").stdout
        )
        return [container for container in containers if _has_labels(container.labels, labels)]

    def logs(self, name: str, *, tail: int | None = None) -> str:
        args = ["logs", *(["--tail", str(tail)] if tail is not None else []), "--", name]
        return self._checked(args, name).output
