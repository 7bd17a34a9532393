"""What the GCP target derives from a :class:`DesiredState`: names, settings and defaults.

Resource names are deterministic (the trigger can be run, and service accounts' e-mail
addresses written, before any ``up``) and within each Google API's length rules.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from shipyard.catalog.state import DesiredState
from shipyard.targets.gcp.errors import NotGcpError, UnsupportedComponentError

__all__ = [
    "BUILD_STACK",
    "DEFAULT_CONNECTION",
    "DEFAULT_KEEP_VERSIONS",
    "FIRST_GEN",
    "INGRESS",
    "BuildMode",
    "GcpConfig",
    "GithubRepo",
    "gcp_config",
    "github_repo",
]

DEFAULT_KEEP_VERSIONS = 10
BUILD_STACK = "gcp-build"
"""The Pulumi stack (per component) of what build once declares in the build project."""
INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
_GITHUB = re.compile(
    r"^(?:https://|ssh://git@|git@)github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$"
)
_BAD = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class GithubRepo:
    owner: str
    name: str


def github_repo(url: str) -> GithubRepo | None:
    """``https://github.com/acme/orders.git`` (or ``git@github.com:acme/orders``) -> owner/name."""
    match = _GITHUB.match(url.strip())
    return GithubRepo(match.group(1), match.group(2)) if match else None


def _name(parts: tuple[str, ...], suffix: str, limit: int) -> str:
    """``<parts>-<hash>[-<suffix>]``: lowercase, a letter first, within ``limit``. The short
    hash of the exact parts (namespace/name[/environment]) keeps two components apart even
    where their cleaned names meet (``a-b/c`` and ``a/b-c``); long names are cut before it.
    The namespace ``default`` is left out of the readable part (not of the hash)."""
    shown = parts[1:] if parts and parts[0] == "default" else parts  # the hash still has it
    clean = _BAD.sub("-", "-".join(shown).lower()).strip("-") or "component"
    if not clean[0].isalpha():
        clean = f"c-{clean}"
    unique = hashlib.sha256("/".join(parts).encode()).hexdigest()[:4]
    tail = f"-{unique}-{suffix}" if suffix else f"-{unique}"
    return f"{clean[: limit - len(tail)].rstrip('-')}{tail}"


BuildMode = Literal["once", "per-environment"]


@dataclass(frozen=True, slots=True)
class GcpConfig:
    """Everything the program and the flows need, computed once from a desired state."""

    project: str
    region: str
    namespace: str
    name: str
    environment: str
    build_mode: BuildMode
    """``once``: one repository and trigger per component, in the build project; a digest
    is promoted. ``per-environment``: each environment builds the tag itself."""
    build_project: str
    build_region: str
    keep_versions: int
    cloudbuild_file: str | None
    connection: str | None
    """The 2nd-gen connection's id (default ``github``); None for the 1st-gen GitHub app."""
    ingress: str
    deletion_protection: bool
    build_deploys: bool = False
    """``gcp-build-deploys``: the build account may deploy to Cloud Run itself (a repository
    ``cloudbuild.yaml`` that deploys): run.developer and serviceAccountUser on the runtime."""

    @property
    def per_environment(self) -> bool:
        return self.build_mode == "per-environment"

    @property
    def _component(self) -> tuple[str, ...]:
        return (self.namespace, self.name)

    @property
    def _stage(self) -> tuple[str, ...]:
        return (self.namespace, self.name, self.environment)

    @property
    def _builds(self) -> tuple[str, ...]:
        return self._stage if self.per_environment else self._component

    @property
    def registry_project(self) -> str:
        """Where the component's images are built and kept."""
        return self.project if self.per_environment else self.build_project

    @property
    def registry_region(self) -> str:
        return self.region if self.per_environment else self.build_region

    @property
    def repository_id(self) -> str:
        return _name(self._builds, "", 63)

    @property
    def repository_resource(self) -> str:
        return (
            f"projects/{self.registry_project}/locations/{self.registry_region}/repositories/"
            f"{self.repository_id}"
        )

    @property
    def registry_uri(self) -> str:
        return f"{self.registry_region}-docker.pkg.dev/{self.registry_project}/{self.repository_id}"

    @property
    def service_name(self) -> str:
        return _name(self._stage, "", 49)

    @property
    def service_resource(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service_name}"

    @property
    def trigger_name(self) -> str:
        return _name(self._builds, "tags", 64)

    def account_id(self, kind: Literal["build", "run"]) -> str:
        return _name(self._builds if kind == "build" else self._stage, kind, 30)

    def _account_project(self, kind: Literal["build", "run"]) -> str:
        return self.registry_project if kind == "build" else self.project

    def account_email(self, kind: Literal["build", "run"]) -> str:
        return f"{self.account_id(kind)}@{self._account_project(kind)}.iam.gserviceaccount.com"

    def account_resource(self, kind: Literal["build", "run"]) -> str:
        """``projects/{project}/serviceAccounts/{email}``, as a trigger's serviceAccount."""
        return f"projects/{self._account_project(kind)}/serviceAccounts/{self.account_email(kind)}"

    @property
    def build_member(self) -> str:
        return f"serviceAccount:{self.account_email('build')}"

    @property
    def connection_resource(self) -> str | None:
        if self.connection is None:
            return None
        return (
            f"projects/{self.registry_project}/locations/{self.registry_region}/connections/"
            f"{self.connection}"
        )

    def trigger_resource(self, trigger: str | None = None) -> str:
        """The regional resource name the Cloud Build API runs: by id, else by name."""
        return (
            f"projects/{self.registry_project}/locations/{self.registry_region}/triggers/"
            f"{trigger or self.trigger_name}"
        )


DEFAULT_CONNECTION = "github"
"""The 2nd-gen connection a trigger uses unless ``gcp-connection`` names another."""
FIRST_GEN = "1st-gen"
"""``gcp-connection: 1st-gen``: the Cloud Build GitHub app, connected by hand per project."""


def _connection(value: str | None) -> str | None:
    if value == FIRST_GEN:
        return None
    return value or DEFAULT_CONNECTION


def _text(desired: DesiredState, key: str) -> str | None:
    value = desired.settings.get(key)
    return None if value is None or value == "" else str(value)


def _refuse_files(desired: DesiredState) -> None:
    """Score ``files`` are not mounted on Cloud Run yet: refused, never dropped."""
    for container in desired.containers:
        if container.files:
            targets = ", ".join(file.target for file in container.files)
            raise UnsupportedComponentError(
                f"{desired.component} ({desired.environment}): score.yaml "
                f"containers.{container.name}.files ({targets}): the gcp target does not "
                "mount files yet: remove them for this environment's workload, bake them "
                "into the image, or deploy to a local environment"
            )


def gcp_config(desired: DesiredState) -> GcpConfig:
    if desired.target != "gcp" or desired.gcp is None:
        raise NotGcpError(
            f"{desired.component} ({desired.environment}) targets {desired.target!r}, not "
            "gcp: hand it to that target"
        )
    _refuse_files(desired)
    if desired.environment == BUILD_STACK:
        raise UnsupportedComponentError(
            f"{desired.component}: environment name {BUILD_STACK!r} is the name of the gcp "
            "target's build stack: rename the environment in platform.yaml"
        )
    keep = desired.settings.get("keep-versions", DEFAULT_KEEP_VERSIONS)
    ingress = str(desired.settings.get("ingress", "all"))
    if ingress not in INGRESS:
        raise UnsupportedComponentError(
            f"{desired.component} ({desired.environment}): ingress {ingress!r} is not one of "
            f"{sorted(INGRESS)}: fix the `ingress` setting"
        )
    mode = str(desired.settings.get("build", "once"))
    if mode not in ("once", "per-environment"):
        raise UnsupportedComponentError(
            f"{desired.component} ({desired.environment}): build {mode!r} is not one of "
            "'once', 'per-environment': fix the `build` setting"
        )
    return GcpConfig(
        project=desired.gcp.project,
        region=desired.gcp.region,
        namespace=desired.namespace,
        name=desired.name,
        environment=desired.environment,
        build_mode="per-environment" if mode == "per-environment" else "once",
        build_project=desired.gcp.build_project or desired.gcp.project,
        build_region=desired.gcp.build_region or desired.gcp.region,
        build_deploys=bool(desired.settings.get("gcp-build-deploys", False)),
        keep_versions=int(keep) if isinstance(keep, int | str) else DEFAULT_KEEP_VERSIONS,
        cloudbuild_file=_text(desired, "cloudbuild-file"),
        connection=_connection(_text(desired, "gcp-connection")),
        ingress=INGRESS[ingress],
        deletion_protection=bool(desired.settings.get("deletion-protection", False)),
    )
