"""Check a desired state against what the GCP target can run, before any Pulumi run.

:func:`gcp_plan` raises :class:`UnsupportedComponentError` for a component the program
could not declare (no source, a repository Cloud Build cannot reach, nothing to build);
the program itself then only declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from shipyard.catalog.score import BuildSpec, Container
from shipyard.catalog.state import DesiredState
from shipyard.targets.base import Release
from shipyard.targets.gcp.config import GcpConfig, GithubRepo, gcp_config, github_repo
from shipyard.targets.gcp.errors import UnsupportedComponentError

__all__ = ["GcpPlan", "check_build_file", "check_tag", "gcp_plan", "image_for", "manual_steps"]

_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True)
class GcpPlan:
    desired: DesiredState
    config: GcpConfig
    source_url: str
    github: GithubRepo | None
    """Set when the trigger uses the (1st-gen) GitHub app; else the 2nd-gen connection."""
    build: BuildSpec | None
    """The Dockerfile the generated build uses; None with the repo's ``cloudbuild.yaml``."""
    ingress_container: str
    release: Release | None

    @property
    def image(self) -> str:
        """The component's image in the registry, without tag or digest."""
        return f"{self.config.registry_uri}/{self.desired.name}"


def check_tag(desired: DesiredState, tag: str) -> None:
    """Refuse a tag the environment's ``tag-pattern`` does not match (as the tag watcher
    reads it: a search), or one that is no valid image tag."""
    try:
        matches = re.search(desired.tag_pattern, tag) is not None
    except (re.error, OverflowError, RecursionError) as exc:
        raise UnsupportedComponentError(
            f"{_where(desired)}: tag-pattern {desired.tag_pattern!r} is not a valid regular "
            f"expression ({exc}): fix the tag-pattern setting"
        ) from exc
    if not matches:
        raise UnsupportedComponentError(
            f"{_where(desired)}: tag {tag!r} does not match the environment's tag-pattern "
            f"{desired.tag_pattern!r}: deploy a tag that does, or change tag-pattern"
        )
    if not _IMAGE_TAG.match(tag):
        raise UnsupportedComponentError(
            f"{_where(desired)}: tag {tag!r} cannot be an image tag (letters, digits, '_', "
            "'.', '-', up to 128, no '/'): deploy another tag"
        )


def image_for(release: Release) -> str:
    """The immutable reference Cloud Run runs: ``<repository>@<digest>`` when known."""
    if not release.digest.startswith("sha256:"):
        return release.image
    name, _, last = release.image.rpartition("/")
    return f"{name}/{last.partition('@')[0].partition(':')[0]}@{release.digest}"


def _where(desired: DesiredState) -> str:
    return f"{desired.component} ({desired.environment})"


def _source(desired: DesiredState, config: GcpConfig) -> tuple[str, GithubRepo | None]:
    source = desired.source
    url = None if source is None else source.url or source.remote
    if url is None:
        local = f" (its source {source.spec!r} is a path on this machine)" if source else ""
        raise UnsupportedComponentError(
            f"{_where(desired)} has no git URL Cloud Build can build from{local}: set the "
            "annotation github.com/project-slug, or shipyard.dev/source to a git URL Cloud "
            "Build reaches"
        )
    github = github_repo(url)
    if config.connection is None and github is None:
        raise UnsupportedComponentError(
            f"{_where(desired)}: source {url!r} is not on github.com, so the "
            "1st-gen Cloud Build GitHub app (gcp-connection: 1st-gen) cannot watch it: set "
            "shipyard.dev/gcp-connection to a Cloud Build 2nd-gen connection that reaches it"
        )
    return url, None if config.connection else github


def _check_containers(desired: DesiredState) -> None:
    for container in desired.containers:
        for field, probe in (
            ("readinessProbe", container.readiness_probe),
            ("livenessProbe", container.liveness_probe),
        ):
            if probe is not None and probe.kind != "http":
                raise UnsupportedComponentError(
                    f"{_where(desired)}: score.yaml containers.{container.name}.{field} is an "
                    "exec probe, which Cloud Run does not run: use httpGet"
                )
        if container.pending_variables:
            names = ", ".join(sorted(container.pending_variables))
            raise UnsupportedComponentError(
                f"{_where(desired)}: container {container.name!r} uses resource outputs "
                f"({names}), which the gcp target does not provision: give those variables "
                "literal values in score.yaml"
            )


def _ingress(containers: tuple[Container, ...]) -> Container:
    return next((c for c in containers if c.build is not None), containers[0])


_LOGGING_FOR_USER_ACCOUNTS = frozenset({"CLOUD_LOGGING_ONLY", "NONE"})
_MAX_BUILD_FILE = 1024 * 1024


def manual_steps(desired: DesiredState) -> list[str]:
    """What a person must do in the Google Cloud console before this component's first
    deploy to its gcp environment can work (``shipyard validate`` shows these)."""
    config = gcp_config(desired)
    source = desired.source
    url = None if source is None else source.url or source.remote
    github = github_repo(url) if url else None
    if config.connection is not None or github is None:
        return []
    return [
        f"gcp-connection is 1st-gen: connect {github.owner}/{github.name} to Cloud Build in "
        f"project {config.registry_project} by hand (console: Cloud Build > Repositories "
        "(1st gen) > Connect repository, GitHub (Cloud Build GitHub App)), or its first "
        "deploy fails with 'Repository mapping does not exist'; a 2nd-gen connection "
        "(the default, gcp-connection unset) needs no step per repository"
    ]


def check_build_file(desired: DesiredState, config: GcpConfig) -> None:
    """A repository's own ``cloudbuild.yaml`` runs as Shipyard's build account (a
    user-specified service account), for which Cloud Build refuses a build that does not
    say where its logs go. Checked when the file is on this machine (a local source);
    Cloud Build itself refuses it otherwise."""
    source = desired.source
    if config.cloudbuild_file is None or source is None or source.path is None:
        return
    root = Path(source.path).resolve()
    path = (root / config.cloudbuild_file).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return  # the catalog reports a file outside the folder; a missing one is Cloud Build's
    with path.open("rb") as handle:
        text = handle.read(_MAX_BUILD_FILE + 1)
    try:
        loaded = YAML(typ="safe").load(text[:_MAX_BUILD_FILE])
    except YAMLError:
        return  # Cloud Build reports a broken file with its own position
    build: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    found = build.get("options")
    options: dict[str, Any] = found if isinstance(found, dict) else {}
    if (
        options.get("logging") in _LOGGING_FOR_USER_ACCOUNTS
        or build.get("logsBucket")
        or options.get("defaultLogsBucketBehavior") == "REGIONAL_USER_OWNED_BUCKET"
    ):
        return
    raise UnsupportedComponentError(
        f"{_where(desired)}: {path} runs as Shipyard's build account (a user-specified "
        "service account), and Cloud Build refuses such a build unless it says where its "
        "logs go: add `options: {logging: CLOUD_LOGGING_ONLY}` (or a `logsBucket`) to it"
    )


def gcp_plan(desired: DesiredState, release: Release | None) -> GcpPlan:
    config = gcp_config(desired)
    source_url, github = _source(desired, config)
    check_build_file(desired, config)
    _check_containers(desired)
    if not desired.containers:
        raise UnsupportedComponentError(f"{_where(desired)}: the workload has no container")
    ingress = _ingress(desired.containers)
    if config.cloudbuild_file is None and ingress.build is None:
        raise UnsupportedComponentError(
            f"{_where(desired)}: no container is built from the repository (`image: .` in "
            "score.yaml) and no shipyard.dev/cloudbuild-file is set: nothing to build"
        )
    return GcpPlan(
        desired=desired,
        config=config,
        source_url=source_url,
        github=github,
        build=None if config.cloudbuild_file else ingress.build,
        ingress_container=ingress.name,
        release=release,
    )
