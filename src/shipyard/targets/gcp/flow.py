"""The GCP target's flows: provision, deploy (run the trigger, then ``up`` the digest) and
destroy. The Control plane calls these from its jobs."""

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
from shipyard.targets.gcp.config import gcp_config
from shipyard.targets.gcp.errors import GcpPluginMissingError
from shipyard.targets.gcp.plan import gcp_plan
from shipyard.targets.gcp.program import gcp_program

__all__ = ["GcpDeployment", "GcpTarget"]

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


class GcpTarget:
    """The ``gcp`` :class:`~shipyard.targets.base.Target`, plus its flows."""

    name = "gcp"

    def __init__(self, settings: Settings, *, engine: Engine, cloud_build: CloudBuild) -> None:
        self.settings = settings
        self.engine = engine
        self.cloud_build = cloud_build

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> GcpTarget:
        """Cloud Build first (it fails fast without credentials), on
        ``settings.gcp_cloud_build_endpoint`` when set, then the engine."""
        resolved = settings or Settings()
        cloud_build = options.pop("cloud_build", None) or CloudBuild.connect(
            endpoint=resolved.gcp_cloud_build_endpoint,
            poll_interval_s=resolved.gcp_build_poll_interval,
        )
        return cls(
            resolved,
            engine=options.pop("engine", None) or Engine.from_settings(resolved),
            cloud_build=cloud_build,
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

    def run_trigger(
        self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None
    ) -> Release:
        gcp_plan(desired, None)  # an unsupported component fails before any API call
        trigger = gcp_config(desired).trigger_resource(self._trigger_id(desired))

        def report(update: BuildUpdate) -> None:
            _log.info("gcp.build", trigger=trigger, tag=tag, **_fields(update))
            if on_line is not None:
                on_line(_line(update))

        built = self.cloud_build.run_trigger(trigger, tag, on_update=report)
        return Release(tag, built.image, built.digest)

    def _trigger_id(self, desired: DesiredState) -> str | None:
        try:
            outputs = self.engine.outputs(StackRef.of(desired.component, desired.environment))
        except StackNotFoundError:
            return None
        found = outputs.get("trigger_id")
        return str(found.value) if found is not None and found.value else None

    # flows

    def provision(
        self,
        desired: DesiredState,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> GcpDeployment:
        """``up`` the registry, accounts, roles and trigger (and the running release)."""
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
        """Run the trigger for ``tag``, then ``up`` the service with the built digest."""
        release = self.run_trigger(desired, tag, on_line=on_line)
        return self._up(desired, release, on_event, cancel)

    def deploy_release(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> GcpDeployment:
        """``up`` the service on an image already built (by digest): a deploy whose build
        ran earlier, or a rollback. Runs no build."""
        return self._up(desired, release, on_event, cancel)

    def destroy(
        self,
        desired: DesiredState,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult | None:
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
        try:
            result = self.engine.up(
                ref, self.program(desired, release), on_event=on_event, cancel=cancel
            )
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


_MISSING_PLUGIN = re.compile(
    r"no resource plugin 'pulumi-resource-gcp' found(?: in the workspace)?(?: at version (v\S+))?"
)


def _fields(update: BuildUpdate) -> dict[str, str]:
    return {"build_id": update.build_id, "status": update.status, "log_url": update.log_url}


def _is_a_target(target: GcpTarget) -> Target:
    """Checked by mypy: :class:`GcpTarget` implements the target port."""
    return target
