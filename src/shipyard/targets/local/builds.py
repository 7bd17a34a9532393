"""Image builds: a component's repository at a tag -> a labelled image, pushed when a
registry is configured."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import structlog

from shipyard.settings import Settings
from shipyard.sources import GitSources
from shipyard.targets.local._process import OnLine
from shipyard.targets.local.containers import BuildSpec, ContainerEngine
from shipyard.targets.local.errors import ImageBuildError, LocalTargetError
from shipyard.targets.local.labels import shipyard_labels

__all__ = [
    "BuildRequest",
    "BuiltImage",
    "ImageBuilder",
    "image_reference",
    "image_repository",
    "is_loopback_registry",
]

_log = structlog.get_logger(__name__)

_INVALID_NAME = re.compile(r"[^a-z0-9._-]+")
_INVALID_TAG = re.compile(r"[^A-Za-z0-9_.-]+")
_BAD_SEPARATORS = re.compile(r"[._-]*[._][._-]*")
"""A run of separators holding a dot or underscore: valid only as ``.``, ``_``, ``__``."""


def _name_part(value: str) -> str:
    """One path component of an image name: ``[a-z0-9]`` runs joined by ``.``, ``_``,
    ``__`` or dashes (the distribution spec's rule); a lossy change (case, characters or
    separators no image name takes) gets a short hash of the original, so two different
    names never share an image repository."""
    lowered = value.lower()
    part = _INVALID_NAME.sub("-", lowered)
    part = _BAD_SEPARATORS.sub(_separators, part).strip("-._") or "x"
    if part != lowered:
        part = f"{part}-{hashlib.sha256(value.encode()).hexdigest()[:6]}"
    return part


def _separators(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) in (".", "_", "__") else "-"


def image_repository(
    component_id: str, registry: str | None = None, *, instance: str | None = None
) -> str:
    """``<registry or localhost>/<instance>/<namespace>/<component>``; a bare name is in
    ``default``. ``instance`` (this Shipyard's id) keeps two Shipyards on one engine or
    registry apart; without it (a render, which runs nothing) the path has no such part."""
    namespace, _, name = component_id.rpartition("/")
    prefix = f"{registry or 'localhost'}/{instance}" if instance else registry or "localhost"
    return f"{prefix}/{_name_part(namespace or 'default')}/{_name_part(name)}"


def image_reference(
    component_id: str, tag: str, registry: str | None = None, *, instance: str | None = None
) -> str:
    """The image for one git tag; characters an image tag cannot hold become ``-``."""
    image_tag = _INVALID_TAG.sub("-", tag).lstrip(".-")[:128] or "latest"
    return f"{image_repository(component_id, registry, instance=instance)}:{image_tag}"


def is_loopback_registry(registry: str) -> bool:
    """A registry on this machine (plain HTTP is fine there)."""
    host = registry.rpartition(":")[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """Build ``tag`` of ``component`` from ``source``; paths are inside the repository."""

    component: str
    source: str
    tag: str
    dockerfile: str = "Dockerfile"
    context: str = "."
    environment: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels, e.g. to find everything a test made."""
    instance: str | None = None
    """The building Shipyard's id: in the image's name and its ``shipyard.dev/instance``."""


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """``digest`` is the registry's when pushed, else the image's content id."""

    reference: str
    image_id: str
    digest: str
    commit: str
    pushed: bool


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / PurePosixPath(relative)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise LocalTargetError(
            f"the {what} {relative!r} points outside the repository: give a path relative "
            "to the repository root"
        )
    return path


class ImageBuilder:
    def __init__(
        self, containers: ContainerEngine, sources: GitSources, *, registry: str | None = None
    ) -> None:
        self.containers = containers
        self.sources = sources
        self.registry = registry

    @classmethod
    def from_settings(cls, containers: ContainerEngine, settings: Settings) -> ImageBuilder:
        return cls(containers, GitSources.from_settings(settings), registry=settings.registry)

    def build(self, request: BuildRequest, *, on_line: OnLine | None = None) -> BuiltImage:
        """Export the tag into a clean tree, build it with Shipyard's labels, push it."""
        reference = image_reference(
            request.component, request.tag, self.registry, instance=request.instance
        )
        log = _log.bind(component=request.component, tag=request.tag, image=reference)
        with tempfile.TemporaryDirectory(prefix="shipyard-build-") as tmp:
            tree = Path(tmp) / "src"
            commit = self.sources.export(request.source, request.tag, tree)
            labels = {
                **request.labels,
                **shipyard_labels(
                    request.component,
                    instance=request.instance,
                    environment=request.environment,
                    tag=request.tag,
                    commit=commit,
                ),
            }
            context = _inside(tree, request.context, "build context")
            dockerfile = _inside(tree, request.dockerfile, "Dockerfile")
            log.info("build.start", commit=commit)
            spec = BuildSpec(reference, context, dockerfile, labels)
            try:
                image = self.containers.build(spec, on_line=on_line)
            except ImageBuildError as exc:
                raise ImageBuildError(
                    f"{request.component} at tag {request.tag} ({request.source}, "
                    f"{request.dockerfile}): {exc}",
                    args=exc.command,
                    returncode=exc.returncode,
                    output=exc.output,
                ) from exc
        digest = image.digest
        if self.registry is not None:
            digest = self.containers.push(
                reference, tls_verify=not is_loopback_registry(self.registry), on_line=on_line
            )
        log.info("build.done", image_id=image.id, digest=digest, pushed=self.registry is not None)
        return BuiltImage(reference, image.id, digest, commit, self.registry is not None)
