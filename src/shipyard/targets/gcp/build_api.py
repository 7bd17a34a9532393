"""Run a Cloud Build trigger for a tag and follow the build to its image digest.

The one place Shipyard talks to the Cloud Build API (``google-cloud-build``'s
``CloudBuildClient``). :meth:`CloudBuild.run_trigger` runs a regional trigger
(``projects/P/locations/R/triggers/T``) at a tag, polls the build, reports each status
change (with the log URL) to a callback, and returns the digest Cloud Build recorded for
the pushed image (``results.images[].digest``); :meth:`CloudBuild.build_tag` first looks
for the trigger's build of the tag (a tag push's) and follows it instead.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import google.auth
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_errors
from google.auth.credentials import Credentials
from google.cloud.devtools import cloudbuild_v1

from shipyard.targets.gcp.errors import (
    BuildFailedError,
    BuildTimeoutError,
    CloudBuildError,
    GcpCredentialsError,
)

__all__ = ["BuildUpdate", "BuiltImage", "CloudBuild", "OnUpdate"]

_TRIGGER = re.compile(r"^projects/([^/]+)/locations/([^/]+)/triggers/([^/]+)$")
_NEWEST = 100
"""Builds of a trigger looked through for a tag's (its newest ones); an older tag's image
is found in Artifact Registry first."""
_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_DONE = frozenset({"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True, slots=True)
class BuildUpdate:
    """A build's status changed."""

    build_id: str
    status: str
    log_url: str
    detail: str = ""


OnUpdate = Callable[[BuildUpdate], None]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    build_id: str
    image: str
    """As the build pushed it, e.g. ``europe-west1-docker.pkg.dev/p/r/app:v1``."""
    digest: str
    log_url: str


def _status(build: Any) -> str:
    return str(cloudbuild_v1.Build.Status(build.status).name)


def _update(build: Any) -> BuildUpdate:
    return BuildUpdate(str(build.id), _status(build), str(build.log_url), str(build.status_detail))


class CloudBuild:
    """Triggers builds and follows them; ``sleep`` and ``monotonic`` are the clock.

    ``wait_for_end(build_id, seconds)``, when given, replaces the ``sleep`` between two
    reads of a build: a wait that returns early once the build's end is known otherwise
    (Cloud Build's Pub/Sub notifications, recorded by any Shipyard process sharing the
    database: :class:`shipyard.services.cloud_build.BuildWaiter`)."""

    def __init__(
        self,
        client: cloudbuild_v1.CloudBuildClient,
        *,
        poll_interval_s: float = 3.0,
        timeout_s: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wait_for_end: Callable[[str, float], object] | None = None,
    ) -> None:
        self.client = client
        self.credentials: Credentials | None = None
        """What :meth:`connect` resolved (ADC), for the target's other reads."""
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._wait_for_end = wait_for_end

    @classmethod
    def connect(
        cls,
        *,
        endpoint: str | None = None,
        credentials: Credentials | None = None,
        **options: Any,
    ) -> CloudBuild:
        """A client on the REST transport; without ``credentials``, Application Default
        Credentials. ``endpoint`` (e.g. ``http://127.0.0.1:8080``) replaces Google's.

        Raises :class:`GcpCredentialsError` when there are no credentials to use."""
        try:
            if credentials is None:
                credentials, _ = google.auth.default(scopes=[_SCOPE])
            client = cloudbuild_v1.CloudBuildClient(
                credentials=credentials,
                transport="rest",
                client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
            )
        except auth_errors.DefaultCredentialsError as exc:
            raise GcpCredentialsError(
                "Shipyard found no Google Cloud credentials to call the Cloud Build API "
                f"({exc}). It uses Application Default Credentials (ADC): on the Shipyard "
                "host run `gcloud auth application-default login` (to try it out), or set "
                "GOOGLE_APPLICATION_CREDENTIALS to a service account key or a workload "
                "identity federation config, or run Shipyard on GCP with an attached service "
                "account (workload identity on GKE); see docs/gcp-target.md, 'Credentials'"
            ) from exc
        built = cls(client, **options)
        built.credentials = credentials
        return built

    def run_trigger(
        self, trigger: str, tag: str, *, on_update: OnUpdate | None = None
    ) -> BuiltImage:
        """Run ``trigger`` (its regional resource name) at ``tag``; wait for the image."""
        project, region, _ = _regional(trigger).groups()
        # only ``name``: with project_id/trigger_id set, the client picks the global route
        # (/v1/projects/P/triggers/T:run), which cannot run a regional trigger
        request = cloudbuild_v1.RunBuildTriggerRequest(
            name=trigger, source=cloudbuild_v1.RepoSource(project_id=project, tag_name=tag)
        )
        try:
            operation = self.client.run_build_trigger(request=request)
            build = operation.metadata.build
        except auth_errors.GoogleAuthError as exc:
            raise _unusable_credentials(exc) from exc
        except google_errors.GoogleAPICallError as exc:
            raise CloudBuildError(
                f"Cloud Build refused to run trigger {trigger} at tag {tag}: {exc.message} "
                f"(HTTP {exc.code}); check that the trigger exists (provision the stack) and "
                "that Shipyard's account has roles/cloudbuild.builds.editor"
            ) from exc
        name = f"projects/{project}/locations/{region}/builds/{build.id}"
        return self._follow(name, build, tag, on_update)

    def build_tag(
        self, trigger: str, trigger_id: str, tag: str, *, on_update: OnUpdate | None = None
    ) -> tuple[BuiltImage, bool]:
        """The image of ``trigger`` at ``tag``: the build a tag push started (followed to
        its end while it runs), else a new run of the trigger. Returns it and whether
        this call started the build."""
        found = self.find_build(trigger, trigger_id, tag)
        if found is None:
            return self.run_trigger(trigger, tag, on_update=on_update), True
        project, region, _ = _regional(trigger).groups()
        name = f"projects/{project}/locations/{region}/builds/{found.id}"
        return self._follow(name, found, tag, on_update), False

    def find_build(self, trigger: str, trigger_id: str, tag: str) -> Any | None:
        """The newest build of ``trigger_id`` at ``tag`` that succeeded or still runs."""
        project, region, _ = _regional(trigger).groups()
        request = cloudbuild_v1.ListBuildsRequest(
            # only ``parent``: with project_id set, the client takes the global route
            # (/v1/projects/P/builds), which lists no regional trigger's builds
            parent=f"projects/{project}/locations/{region}",
            filter=f'trigger_id="{trigger_id}"',
            page_size=100,
        )
        try:
            newest = itertools.islice(self.client.list_builds(request=request), _NEWEST)
            for build in newest:
                if build.substitutions.get("TAG_NAME") != tag:
                    continue
                if _status(build) in _DONE and _status(build) != "SUCCESS":
                    continue  # a failed build of the tag: a new run may succeed
                return build
        except auth_errors.GoogleAuthError as exc:
            raise _unusable_credentials(exc) from exc
        except google_errors.GoogleAPICallError as exc:
            raise CloudBuildError(
                f"Cloud Build refused to list the builds of trigger {trigger}: {exc.message} "
                f"(HTTP {exc.code}); check that Shipyard's account has "
                "roles/cloudbuild.builds.viewer in the build project"
            ) from exc
        return None

    def _get(self, name: str) -> Any:
        try:
            return self.client.get_build(name=name)
        except auth_errors.GoogleAuthError as exc:
            raise _unusable_credentials(exc) from exc
        except google_errors.GoogleAPICallError as exc:
            raise CloudBuildError(
                f"could not read build {name}: {exc.message} (HTTP {exc.code}); check that "
                "Shipyard's account may read builds (roles/cloudbuild.builds.viewer)"
            ) from exc

    def _follow(self, name: str, build: Any, tag: str, on_update: OnUpdate | None) -> BuiltImage:
        deadline = self._monotonic() + self.timeout_s
        last: BuildUpdate | None = None
        while True:
            update = _update(build)
            if on_update is not None and update != last:
                on_update(update)
            last = update
            if update.status in _DONE:
                return self._result(build, update, tag)
            if self._monotonic() >= deadline:
                raise BuildTimeoutError(
                    f"build {update.build_id} for tag {tag} was still {update.status} after "
                    f"{self.timeout_s:.0f}s; it may still finish: follow it at {update.log_url} "
                    "and deploy the tag again once it has",
                    build_id=update.build_id,
                    log_url=update.log_url,
                )
            if self._wait_for_end is not None:
                self._wait_for_end(update.build_id, self.poll_interval_s)
            else:
                self._sleep(self.poll_interval_s)
            build = self._get(name)

    def _result(self, build: Any, update: BuildUpdate, tag: str) -> BuiltImage:
        if update.status != "SUCCESS":
            detail = f": {update.detail}" if update.detail else ""
            raise BuildFailedError(
                f"build {update.build_id} for tag {tag} ended {update.status}{detail}; see its "
                f"log at {update.log_url}",
                build_id=update.build_id,
                status=update.status,
                log_url=update.log_url,
            )
        images = [image for image in build.results.images if image.digest]
        if not images:
            raise CloudBuildError(
                f"build {update.build_id} for tag {tag} succeeded but reported no image digest "
                f"(see {update.log_url}): list the pushed image under `images:` in the build"
            )
        tagged = next((i for i in images if str(i.name).endswith(f":{tag}")), images[0])
        return BuiltImage(update.build_id, str(tagged.name), str(tagged.digest), update.log_url)


def _regional(trigger: str) -> re.Match[str]:
    match = _TRIGGER.match(trigger)
    if match is None:
        raise CloudBuildError(
            f"{trigger!r} is not a regional trigger name: expected "
            "projects/<project>/locations/<region>/triggers/<trigger id or name>"
        )
    return match


def _unusable_credentials(exc: Exception) -> GcpCredentialsError:
    return GcpCredentialsError(
        f"Shipyard's Application Default Credentials could not be used ({exc}): renew them "
        "(`gcloud auth application-default login`, or a new key or workload identity config "
        "in GOOGLE_APPLICATION_CREDENTIALS) and check that the account is not disabled; see "
        "docs/gcp-target.md, 'Credentials'"
    )
