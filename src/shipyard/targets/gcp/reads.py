"""What the GCP target reads back from Google besides builds: an image in Artifact
Registry (is a release's digest still there?) and a Cloud Run service (which revision
serves?). Plain REST (``artifactregistry.v1``, ``run.v2``) with the credentials the Cloud
Build client uses; ``endpoint`` replaces Google's hosts (a fake in tests)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from google.auth import exceptions as auth_errors
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from requests import RequestException

from shipyard.targets.gcp.errors import CloudBuildError, GcpCredentialsError

__all__ = ["GoogleReads"]

_ARTIFACT_REGISTRY = "https://artifactregistry.googleapis.com"
_RUN = "https://run.googleapis.com"


class GoogleReads:
    def __init__(
        self, credentials: Credentials, *, endpoint: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.timeout_s = timeout_s

    def _get(self, base: str, path: str) -> dict[str, Any] | None:
        """The resource at ``path``; None for a 404."""
        url = f"{self.endpoint or base}/{path}"
        try:
            answer = self.session.get(url, timeout=self.timeout_s)
        except auth_errors.GoogleAuthError as exc:
            raise GcpCredentialsError(
                f"Shipyard's Application Default Credentials could not be used ({exc}); see "
                "docs/gcp-target.md, 'Credentials'"
            ) from exc
        except RequestException as exc:
            raise CloudBuildError(f"could not reach Google at {url}: {exc}") from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise CloudBuildError(
                f"Google answered {answer.status_code} to GET {url}: {answer.text[:500]}"
            )
        body: dict[str, Any] = answer.json()
        return body

    def docker_image(self, repository: str, image: str, digest: str) -> dict[str, Any] | None:
        """``repository``'s (``projects/P/locations/L/repositories/R``) image by digest."""
        name = quote(f"{image}@{digest}", safe="")
        return self._get(_ARTIFACT_REGISTRY, f"v1/{repository}/dockerImages/{name}")

    def tagged_digest(self, repository: str, image: str, tag: str) -> str | None:
        """The digest ``tag`` of ``image`` names in ``repository`` (None: no such tag)."""
        package = quote(image, safe="")
        found = self._get(
            _ARTIFACT_REGISTRY, f"v1/{repository}/packages/{package}/tags/{quote(tag, safe='')}"
        )
        if found is None:
            return None
        version = unquote(str(found.get("version", ""))).rpartition("/versions/")[2]
        return version if version.startswith("sha256:") else None

    def service(self, name: str) -> dict[str, Any] | None:
        """A Cloud Run service (``projects/P/locations/L/services/S``)."""
        return self._get(_RUN, f"v2/{name}")
