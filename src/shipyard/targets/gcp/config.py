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
    "DEFAULT_KEEP_VERSIONS",
    "INGRESS",
    "GcpConfig",
    "GithubRepo",
    "gcp_config",
    "github_repo",
]

DEFAULT_KEEP_VERSIONS = 10
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


def _name(base: str, suffix: str, limit: int) -> str:
    """``<base>-<suffix>``, lowercase, starting with a letter; a hash keeps it unique when cut."""
    clean = _BAD.sub("-", base.lower()).strip("-") or "component"
    if not clean[0].isalpha():
        clean = f"c-{clean}"
    full = f"{clean}-{suffix}" if suffix else clean
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{clean[:keep].rstrip('-')}-{digest}-{suffix}" if suffix else f"{clean[:keep]}-{digest}"


@dataclass(frozen=True, slots=True)
class GcpConfig:
    """Everything the program and the flows need, computed once from a desired state."""

    project: str
    region: str
    base: str
    """``<name>-<environment>``: the stem of every resource name."""
    keep_versions: int
    cloudbuild_file: str | None
    connection: str | None
    ingress: str
    deletion_protection: bool

    @property
    def repository_id(self) -> str:
        return _name(self.base, "", 63)

    @property
    def registry_uri(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository_id}"

    @property
    def service_name(self) -> str:
        return _name(self.base, "", 49)

    @property
    def trigger_name(self) -> str:
        return _name(self.base, "tags", 64)

    def account_id(self, kind: Literal["build", "run"]) -> str:
        return _name(self.base, kind, 30)

    def account_email(self, kind: Literal["build", "run"]) -> str:
        return f"{self.account_id(kind)}@{self.project}.iam.gserviceaccount.com"

    def account_resource(self, kind: Literal["build", "run"]) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.account_email(kind)}"

    @property
    def build_member(self) -> str:
        return f"serviceAccount:{self.account_email('build')}"

    @property
    def connection_resource(self) -> str | None:
        if self.connection is None:
            return None
        return f"projects/{self.project}/locations/{self.region}/connections/{self.connection}"

    def trigger_resource(self, trigger: str | None = None) -> str:
        """The regional resource name the Cloud Build API runs: by id, else by name."""
        return (
            f"projects/{self.project}/locations/{self.region}/triggers/"
            f"{trigger or self.trigger_name}"
        )


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
    keep = desired.settings.get("keep-versions", DEFAULT_KEEP_VERSIONS)
    ingress = str(desired.settings.get("ingress", "all"))
    if ingress not in INGRESS:
        raise UnsupportedComponentError(
            f"{desired.component} ({desired.environment}): ingress {ingress!r} is not one of "
            f"{sorted(INGRESS)}: fix the `ingress` setting"
        )
    return GcpConfig(
        project=desired.gcp.project,
        region=desired.gcp.region,
        base=f"{desired.name}-{desired.environment}",
        keep_versions=int(keep) if isinstance(keep, int | str) else DEFAULT_KEEP_VERSIONS,
        cloudbuild_file=_text(desired, "cloudbuild-file"),
        connection=_text(desired, "gcp-connection"),
        ingress=INGRESS[ingress],
        deletion_protection=bool(desired.settings.get("deletion-protection", False)),
    )
