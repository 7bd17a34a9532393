"""The GCP target's flows: provision, deploy (the tag's image: found in Artifact Registry,
or the trigger's build of it, or a run of the trigger; then ``up`` its digest and check the
new revision serves), deploy of a known release (promote, rollback) and destroy. The
Control plane calls these from its jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import structlog

from shipyard.catalog.state import DesiredState
from shipyard.engine import (
    CancelToken,
    Engine,
    EngineError,
    EventSink,
    OperationResult,
    Program,
    StackNotFoundError,
    StackRef,
)
from shipyard.settings import Settings
from shipyard.targets.base import OnLine, Release, Target
from shipyard.targets.gcp.build_api import BuildUpdate, CloudBuild
from shipyard.targets.gcp.config import BUILD_STACK, gcp_config
from shipyard.targets.gcp.errors import (
    GcpPluginMissingError,
    NotServingError,
    ReleaseImageGoneError,
)
from shipyard.targets.gcp.plan import check_tag, gcp_plan
from shipyard.targets.gcp.program import build_program, gcp_program
from shipyard.targets.gcp.reads import GoogleReads

__all__ = ["BUILD_STACK", "GcpDeployment", "GcpTarget"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class GcpDeployment:
    """What one provision or deploy left running."""

    stack: StackRef
    url: str | None
    trigger_id: str | None
    registry_uri: str
    release: Release | None
    operation: OperationResult = field(repr=False)


def _line(update: BuildUpdate) -> str:
    detail = f" ({update.detail})" if update.detail else ""
    return f"build {update.build_id}: {update.status}{detail} {update.log_url}"


_IMAGE = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^@:]+)")


class GcpTarget:
    """The ``gcp`` :class:`~shipyard.targets.base.Target`, plus its flows."""

    name = "gcp"

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        cloud_build: CloudBuild,
        reads: GoogleReads | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.cloud_build = cloud_build
        self.reads = reads

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> GcpTarget:
        """Cloud Build first (it fails fast without credentials), on
        ``settings.gcp_cloud_build_endpoint`` when set, then the engine. ``wait_for_end``:
        see :class:`~shipyard.targets.gcp.build_api.CloudBuild`."""
        resolved = settings or Settings()
        wait_for_end = options.pop("wait_for_end", None)
        cloud_build = options.pop("cloud_build", None) or CloudBuild.connect(
            endpoint=resolved.gcp_cloud_build_endpoint,
            poll_interval_s=resolved.gcp_build_poll_interval,
            wait_for_end=wait_for_end,
        )
        reads = options.pop("reads", None)
        if reads is None and cloud_build.credentials is not None:
            reads = GoogleReads(cloud_build.credentials, endpoint=resolved.gcp_cloud_build_endpoint)
        return cls(
            resolved,
            engine=options.pop("engine", None) or Engine.from_settings(resolved),
            cloud_build=cloud_build,
            reads=reads,
        )

    def __enter__(self) -> GcpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # the Target port

    def program(self, desired: DesiredState, release: Release | None) -> Program:
        return gcp_program(gcp_plan(desired, release))

    def build(self, desired: DesiredState, ref: str, *, on_line: OnLine | None = None) -> Release:
        """Cloud Build builds what its trigger says: building a ref is running it."""
        return self.run_trigger(desired, ref, on_line=on_line)

    def build_ref(self, desired: DesiredState) -> StackRef:
        """The stack declaring the component's trigger: its own one (build once), else the
        environment's."""
        if gcp_config(desired).per_environment:
            return StackRef.of(desired.component, desired.environment)
        return StackRef.of(desired.component, BUILD_STACK)

    def run_trigger(
        self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None
    ) -> Release:
        """The image of ``tag``: the build the trigger ran for it (a tag push), waited for
        while it runs, else a run of the trigger. Provisions the trigger first if missing."""
        plan = gcp_plan(desired, None)  # an unsupported component fails before any call
        check_tag(desired, tag)
        config = gcp_config(desired)
        trigger_id = self.ensure_build(desired, on_line=on_line)
        trigger = config.trigger_resource(trigger_id)

        def report(update: BuildUpdate) -> None:
            _log.info("gcp.build", trigger=trigger, tag=tag, **_fields(update))
            if on_line is not None:
                on_line(_line(update))

        if self.reads is not None:  # the tag's image already pushed (tags are immutable)
            digest = self.reads.tagged_digest(config.repository_resource, desired.name, tag)
            if digest is not None:
                if on_line is not None:
                    on_line(f"image {plan.image}:{tag} ({digest}) is in Artifact Registry")
                return Release(tag, f"{plan.image}:{tag}", digest)
        built, started = self.cloud_build.build_tag(trigger, trigger_id, tag, on_update=report)
        if on_line is not None:
            how = "ran the trigger for it" if started else "the build the trigger ran for it"
            on_line(f"image {built.image} ({built.digest}): {how}, build {built.build_id}")
        return Release(tag, built.image, built.digest)

    def ensure_build(
        self,
        desired: DesiredState,
        *,
        on_line: OnLine | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> str:
        """The trigger's id, after an ``up`` of its stack when it has none yet."""
        ref = self.build_ref(desired)
        found = self._output(ref, "trigger_id")
        if found:
            return found
        if on_line is not None:
            on_line(f"provisioning {ref} first: it has no Cloud Build trigger yet")
        result = self._up_ref(ref, self._build_program(desired), on_event, cancel)
        return str(result.outputs["trigger_id"].value)

    def _build_program(self, desired: DesiredState) -> Program:
        if gcp_config(desired).per_environment:
            return self.program(desired, self.current_release(desired))
        return build_program(gcp_plan(desired, None))

    def _output(self, ref: StackRef, name: str) -> str | None:
        try:
            outputs = self.engine.outputs(ref)
        except StackNotFoundError:
            return None
        found = outputs.get(name)
        return str(found.value) if found is not None and found.value else None

    def release_of(
        self, desired: DesiredState, tag: str, recorded: Release | None
    ) -> Release | None:
        """``recorded`` when it is ``tag``'s image in the registry this environment runs
        from (the build project's with build once; its own per environment)."""
        registry = gcp_config(desired).registry_uri
        if recorded is None or recorded.tag != tag:
            return None
        return recorded if recorded.image.startswith(registry + "/") else None

    # flows

    def provision(
        self,
        desired: DesiredState,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> GcpDeployment:
        """``up`` the build resources (build once: the component's build stack), then the
        environment's (with the running release)."""
        if not gcp_config(desired).per_environment:
            self._up_ref(
                self.build_ref(desired),
                build_program(gcp_plan(desired, None)),
                on_event,
                cancel,
            )
        return self._up(desired, self.current_release(desired), on_event, cancel)

    def deploy(
        self,
        desired: DesiredState,
        tag: str,
        *,
        on_event: EventSink | None = None,
        on_line: OnLine | None = None,
        cancel: CancelToken | None = None,
    ) -> GcpDeployment:
        """The image of ``tag`` (see :meth:`run_trigger`), then ``up`` on its digest."""
        release = self.run_trigger(desired, tag, on_line=on_line)
        return self.deploy_release(desired, release, on_event=on_event, cancel=cancel)

    def deploy_release(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> GcpDeployment:
        """``up`` the service on an image already built (by digest): a deploy whose build
        ran earlier, a promote or a rollback. Runs no build. Refused before the ``up`` when
        the image is gone from the registry; done when the new revision serves."""
        if release.tag:
            check_tag(desired, release.tag)  # a promote, too: the environment's own pattern
        self._check_image(desired, release)
        deployed = self._up(desired, release, on_event, cancel)
        self._check_serving(desired, release)
        return deployed

    def _check_image(self, desired: DesiredState, release: Release) -> None:
        match = _IMAGE.match(release.image)
        if self.reads is None or match is None or not release.digest.startswith("sha256:"):
            return
        location, project, repository, image = match.groups()
        parent = f"projects/{project}/locations/{location}/repositories/{repository}"
        if self.reads.docker_image(parent, image, release.digest) is None:
            raise ReleaseImageGoneError(
                f"{desired.component} ({desired.environment}): the image of {release.tag} "
                f"({release.image}, {release.digest}) is no longer in Artifact Registry "
                f"({parent}): a cleanup policy or a person deleted it. Nothing was changed; "
                f"deploy the tag {release.tag} again to build it anew (a new digest), or pick "
                "another release"
            )

    def _check_serving(self, desired: DesiredState, release: Release) -> None:
        if self.reads is None:
            return
        name = gcp_config(desired).service_resource
        service = self.reads.service(name)
        if service is None:
            raise NotServingError(f"{name} is missing after the up: check the project")
        latest = str(service.get("latestCreatedRevision", "")).rpartition("/")[2]
        ready = str(service.get("latestReadyRevision", "")).rpartition("/")[2]
        serving = {
            str(status.get("revision")): int(status.get("percent") or 0)
            for status in service.get("trafficStatuses") or []
        }
        if latest != ready or serving.get(latest, 0) != 100:
            raise NotServingError(
                f"{desired.component} ({desired.environment}): revision {latest} of {name} "
                f"({release.tag}) is not serving all traffic (ready: {ready or 'none'}, "
                f"traffic: {serving or 'none'}); see the service in the Cloud Run console"
            )

    def destroy(
        self,
        desired: DesiredState,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult | None:
        """The environment's stack; a build once stack stays (other environments, the
        images releases name)."""
        ref = StackRef.of(desired.component, desired.environment)
        try:
            return self.engine.destroy(ref, remove=True, on_event=on_event, cancel=cancel)
        except StackNotFoundError:
            return None

    def current_release(self, desired: DesiredState) -> Release | None:
        try:
            outputs = self.engine.outputs(StackRef.of(desired.component, desired.environment))
        except StackNotFoundError:
            return None
        values = {name: out.value for name, out in outputs.items()}
        if not values.get("tag") or not values.get("image_digest"):
            return None
        image = f"{values['image']}:{values['tag']}"
        return Release(str(values["tag"]), image, str(values["image_digest"]))

    def _up(
        self,
        desired: DesiredState,
        release: Release | None,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> GcpDeployment:
        ref = StackRef.of(desired.component, desired.environment)
        result = self._up_ref(ref, self.program(desired, release), on_event, cancel)
        outputs = {name: out.value for name, out in result.outputs.items()}
        _log.info("gcp.up", stack_ref=str(ref), tag=release.tag if release else None)
        return GcpDeployment(
            ref,
            str(outputs["url"]) if outputs.get("url") else None,
            str(outputs["trigger_id"]) if outputs.get("trigger_id") else None,
            str(outputs.get("registry_uri") or gcp_config(desired).registry_uri),
            release,
            result,
        )

    def _up_ref(
        self,
        ref: StackRef,
        program: Program,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> OperationResult:
        try:
            return self.engine.up(ref, program, on_event=on_event, cancel=cancel)
        except EngineError as exc:
            missing = _MISSING_PLUGIN.search(str(exc))
            if missing is None:
                raise
            version = missing.group(1) or "<the version in pulumi_gcp's pulumi-plugin.json>"
            raise GcpPluginMissingError(
                f"`pulumi up` of stack {ref} needs Pulumi's gcp provider plugin "
                f"{version}, which is not installed in Shipyard's PULUMI_HOME "
                f"({self.engine.pulumi_home}) and cannot be downloaded from here: on a "
                f"connected machine run `PULUMI_HOME={self.engine.pulumi_home} pulumi plugin "
                f"install resource gcp {version}` and copy "
                "plugins/resource-gcp-*/ to that directory; see docs/gcp-target.md, "
                "'The gcp provider plugin'"
            ) from exc


_MISSING_PLUGIN = re.compile(
    r"no resource plugin 'pulumi-resource-gcp' found(?: in the workspace)?(?: at version (v\S+))?"
)


def _fields(update: BuildUpdate) -> dict[str, str]:
    return {"build_id": update.build_id, "status": update.status, "log_url": update.log_url}


def _is_a_target(target: GcpTarget) -> Target:
    """Checked by mypy: :class:`GcpTarget` implements the target port."""
    return target
