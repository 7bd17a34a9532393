"""The local target's flows: provision, deploy, rollback, destroy, and the tag watcher's
"build requested" turned into a build and deploys. The Control plane calls these from
its jobs; the tests call them directly.

A :class:`LocalTarget` is opened (``with LocalTarget.from_settings(...) as target``):
that makes sure a Caddy answers (the configured one, one started earlier, or one it
starts and supervises until closed) before any ``up`` needs it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from shipyard.catalog.state import DesiredState
from shipyard.engine import (
    CancelToken,
    Engine,
    EventSink,
    OperationResult,
    Program,
    StackNotFoundError,
    StackRef,
)
from shipyard.settings import Settings
from shipyard.targets.base import OnLine, Release, Target
from shipyard.targets.local.builds import BuildRequest, ImageBuilder, image_reference
from shipyard.targets.local.builds import image_repository as repository_of
from shipyard.targets.local.container_cli import CliContainerEngine
from shipyard.targets.local.containers import ImageInfo
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.errors import ImageNotFoundError, LocalTargetError
from shipyard.targets.local.instance import instance_id
from shipyard.targets.local.labels import COMMIT, COMPONENT, INSTANCE
from shipyard.targets.local.program import local_program
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.revisions import remove_service
from shipyard.targets.local.runtime import Runtime
from shipyard.targets.local.service_spec import ServiceSpec, service_spec
from shipyard.targets.local.trigger import BuildRequested, TagWatcher

__all__ = ["LocalDeployment", "LocalTarget", "NoSourceError", "NotLocalError", "open_proxy"]

_log = structlog.get_logger(__name__)
_ADMIN_PROBE_TIMEOUT_S = 1.0


class NotLocalError(LocalTargetError):
    """A desired state for another target was handed to the local target."""


class NoSourceError(LocalTargetError):
    """The component has no source to build from."""


@dataclass(frozen=True, slots=True)
class LocalDeployment:
    """What one provision, deploy or rollback left running."""

    stack: StackRef
    url: str
    revision: int
    release: Release | None
    operation: OperationResult = field(repr=False)
    build_s: float = 0.0
    """Seconds spent building the image (0 when it existed)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """The provider's split of the revision switch: ``start``, ``health``, ``switch``,
    ``cleanup`` (seconds; empty when the service did not change)."""


def _admin_answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/config/", timeout=_ADMIN_PROBE_TIMEOUT_S, trust_env=False)
    except httpx.TransportError:
        return False
    return True


def open_proxy(settings: Settings, *, sync: bool = True) -> Proxy:
    """The configured Caddy, else one a previous Shipyard process left running, else a
    new one this process supervises. ``sync=False`` does not load the saved routes into
    a configured Caddy (a job's process: the server loaded them when it started)."""
    proxy = Proxy.from_settings(settings)
    if not proxy.external and _admin_answers(proxy.admin_url):
        proxy = Proxy(proxy.state_dir, admin_url=proxy.admin_url, instance=proxy.instance)
        sync = True
    proxy.start(sync=sync)
    return proxy


def _ensure_local(desired: DesiredState) -> None:
    if desired.target != "local":
        raise NotLocalError(
            f"{desired.component} ({desired.environment}) targets {desired.target!r}, not "
            "local: hand it to that target"
        )


class LocalTarget:
    """The ``local`` :class:`~shipyard.targets.base.Target`, plus its flows."""

    name = "local"

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        containers: CliContainerEngine,
        labels: Mapping[str, str] | None = None,
        health_timeout_s: float = 60.0,
        sync_routes: bool = True,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.containers = containers
        self.labels = dict(labels or {})
        """Extra labels on everything this target makes (e.g. a test run's)."""
        self.health_timeout_s = health_timeout_s
        self.sync_routes = sync_routes
        """Load the saved routes into a configured proxy on :meth:`open`."""
        self.builder = ImageBuilder.from_settings(containers, settings)
        self.instance = instance_id(settings.data_dir)
        """This Shipyard's id (``<data_dir>/instance-id``): on every image, container and
        route it makes, and in every lookup and sweep."""
        self._proxy: Proxy | None = None
        self._image_ids: dict[tuple[str, str], str] = {}
        self._prefetched: dict[str, Future[ImageInfo]] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> LocalTarget:
        resolved = settings or Settings()
        return cls(
            resolved,
            engine=options.pop("engine", None) or Engine.from_settings(resolved),
            containers=options.pop("containers", None) or detect_container_engine(resolved),
            **options,
        )

    # lifecycle

    def open(self) -> LocalTarget:
        if self._proxy is None:
            self._proxy = open_proxy(self.settings, sync=self.sync_routes)
        return self

    def close(self) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.close()

    def __enter__(self) -> LocalTarget:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def proxy(self) -> Proxy:
        if self._proxy is None:
            raise LocalTargetError(
                "the local target is not open: use `with LocalTarget.from_settings() as t:` "
                "(or call open()) so its proxy runs"
            )
        return self._proxy

    def runtime(self) -> Runtime:
        return Runtime(
            engine_binary=str(self.containers.binary.resolve()),
            state_dir=str(self.proxy.state_dir.resolve()),
            proxy_admin_url=self.proxy.admin_url,
            health_timeout_s=self.health_timeout_s,
            engine_host=self.containers.host,
        )

    # the Target port

    def program(self, desired: DesiredState, release: Release | None) -> Program:
        _ensure_local(desired)
        service = self._service(desired, release) if release is not None else None
        return local_program(
            desired.component,
            desired.environment,
            repository=repository_of(
                desired.component, self.settings.registry, instance=self.instance
            ),
            registry=self.settings.registry,
            runtime=self.runtime(),
            service=service,
        )

    def _image_id(self, release: Release) -> str:
        """The local id of the release's image: known when this target found or built it
        (an image's id for a reference and digest never changes), else one inspect."""
        key = (release.image, release.digest)
        if key not in self._image_ids:
            self._image_ids[key] = self.containers.inspect_image(release.image).id
        return self._image_ids[key]

    def _service(self, desired: DesiredState, release: Release) -> ServiceSpec:
        return service_spec(
            desired,
            image_id=self._image_id(release),
            image=release.image,
            digest=release.digest,
            tag=release.tag,
            instance=self.instance,
            labels=self.labels,
        )

    def build(self, desired: DesiredState, ref: str, *, on_line: OnLine | None = None) -> Release:
        """Build ``ref`` of the component's source (and push it when a registry is set)."""
        built = self.builder.build(self._build_request(desired, ref), on_line=on_line)
        self._image_ids[built.reference, built.digest] = built.image_id
        return Release(ref, built.reference, built.digest, built.commit)

    def run_trigger(
        self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None
    ) -> Release:
        """The release of ``tag``: the image built for it earlier, else a new build."""
        return self.release_of(desired, tag) or self.build(desired, tag, on_line=on_line)

    def prefetch_release(self, component: str, tag: str) -> None:
        """Start looking up the image of ``component`` at ``tag`` (one inspect, 40 ms
        here) in a thread; the next :meth:`release_of` of that tag takes its answer. A
        job calls it first thing, so the lookup runs beside its records."""
        reference = self._reference(component, tag)
        found: Future[ImageInfo] = Future()

        def inspect() -> None:
            try:
                found.set_result(self.containers.inspect_image(reference))
            except Exception as exc:  # noqa: BLE001  handed to release_of, which raises it
                found.set_exception(exc)

        self._prefetched[reference] = found
        threading.Thread(target=inspect, name="shipyard-release-lookup", daemon=True).start()

    def _reference(self, component: str, tag: str) -> str:
        return image_reference(component, tag, self.settings.registry, instance=self.instance)

    def release_of(self, desired: DesiredState, tag: str) -> Release | None:
        """The image already built for ``tag``, if any."""
        reference = self._reference(desired.component, tag)
        prefetched = self._prefetched.pop(reference, None)
        try:
            if prefetched is not None:
                image = prefetched.result()
            else:
                image = self.containers.inspect_image(reference)
        except ImageNotFoundError:
            return None
        if (
            image.labels.get(COMPONENT) != desired.component
            or image.labels.get(INSTANCE) != self.instance
        ):
            return None
        self._image_ids[reference, image.digest] = image.id
        return Release(tag, reference, image.digest, image.labels.get(COMMIT))

    def _build_request(self, desired: DesiredState, tag: str) -> BuildRequest:
        if desired.source is None:
            raise NoSourceError(
                f"{desired.component} has no source to build: set the annotation "
                "shipyard.dev/source (a git URL or path) or backstage.io/source-location"
            )
        source = desired.source.url or desired.source.path or desired.source.spec
        build = next((c.build for c in desired.containers if c.build is not None), None)
        if build is None:
            raise NoSourceError(
                f"{desired.component}: no container of the workload is built from the "
                "repository (`image: .` in score.yaml): nothing to build"
            )
        return BuildRequest(
            component=desired.component,
            source=source,
            tag=tag,
            dockerfile=str(Path(build.context) / build.dockerfile),
            context=build.context,
            labels=self.labels,
            instance=self.instance,
        )

    # flows

    def provision(
        self,
        desired: DesiredState,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> LocalDeployment:
        """``up`` the repository and the route; a release already running stays."""
        return self._up(desired, self.current_release(desired), on_event, cancel)

    def deploy(
        self,
        desired: DesiredState,
        tag: str,
        *,
        on_event: EventSink | None = None,
        on_line: OnLine | None = None,
        cancel: CancelToken | None = None,
    ) -> LocalDeployment:
        """Build ``tag`` unless its image exists, then ``up`` with it as a new revision."""
        _ensure_local(desired)
        started = time.monotonic()
        release = self.run_trigger(desired, tag, on_line=on_line)
        built_s = time.monotonic() - started
        return dataclasses.replace(self._up(desired, release, on_event, cancel), build_s=built_s)

    def rollback(
        self,
        desired: DesiredState,
        tag: str,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> LocalDeployment:
        """Deploy the earlier release ``tag`` again (its image must still exist)."""
        release = self.release_of(desired, tag)
        if release is None:
            raise ImageNotFoundError(
                f"cannot roll {desired.component} ({desired.environment}) back to {tag}: no "
                "image was built for it (or it was removed); deploy the tag instead, which "
                "builds it",
                args=[],
                returncode=0,
                output="",
            )
        return self._up(desired, release, on_event, cancel)

    def run_release(
        self,
        desired: DesiredState,
        release: Release,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> LocalDeployment:
        """``up`` with a release the caller already found (:meth:`release_of`) or built."""
        _ensure_local(desired)
        return self._up(desired, release, on_event, cancel)

    def destroy(
        self,
        desired: DesiredState,
        *,
        remove_images: bool = False,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult | None:
        """Tear the stack down and remove it; then sweep by label whatever an interrupted
        run left (containers, the route) and, with ``remove_images``, the component's
        images no other environment runs. Only this Shipyard's (its instance id): another
        Shipyard's containers and images of the same component stay. None when there was
        no stack."""
        _ensure_local(desired)
        ref = StackRef.of(desired.component, desired.environment)
        result: OperationResult | None
        try:
            result = self.engine.destroy(ref, remove=True, on_event=on_event, cancel=cancel)
        except StackNotFoundError:
            result = None
        remove_service(
            self.containers,
            self.proxy,
            desired.component,
            desired.environment,
            instance=self.instance,
        )
        if self.proxy.route(desired.component, desired.environment) is not None:
            self.proxy.remove_route(desired.component, desired.environment)
        if remove_images:
            self._remove_images(desired.component)
        _log.info("local.destroyed", stack_ref=str(ref), images_removed=remove_images)
        return result

    def _remove_images(self, component: str) -> None:
        """This Shipyard's images of ``component`` that none of its containers runs."""
        mine = {COMPONENT: component, INSTANCE: self.instance}
        in_use = {c.image_id for c in self.containers.list_containers(mine)}
        for image in self.containers.list_images(mine, include_untagged=True):
            if image.id not in in_use:
                self.containers.remove_image(image.id)

    def current_release(self, desired: DesiredState) -> Release | None:
        """The release the stack's last ``up`` deployed, if any."""
        ref = StackRef.of(desired.component, desired.environment)
        try:
            outputs = self.engine.outputs(ref)
        except StackNotFoundError:
            return None
        tag = outputs.get("tag")
        image = outputs.get("image")
        digest = outputs.get("image_digest")
        if tag is None or image is None or digest is None or not tag.value:
            return None
        return Release(str(tag.value), str(image.value), str(digest.value))

    def _up(
        self,
        desired: DesiredState,
        release: Release | None,
        on_event: EventSink | None,
        cancel: CancelToken | None,
    ) -> LocalDeployment:
        ref = StackRef.of(desired.component, desired.environment)
        program = self.program(desired, release)
        result = self.engine.up(ref, program, on_event=on_event, cancel=cancel)
        outputs = {name: out.value for name, out in result.outputs.items()}
        _log.info(
            "local.up",
            stack_ref=str(ref),
            tag=release.tag if release else None,
            revision=outputs.get("revision"),
            changes=dict(result.changes),
        )
        return LocalDeployment(
            ref,
            str(outputs["url"]),
            int(outputs.get("revision") or 0),
            release,
            result,
            timings=dict(outputs.get("timings") or {}) if result.changed else {},
        )

    # the trigger

    def on_build_requested(
        self,
        event: BuildRequested,
        environments: Iterable[DesiredState],
        *,
        on_line: OnLine | None = None,
    ) -> list[LocalDeployment]:
        """The tag watcher's "build requested": build the tag (once), then deploy it to
        each local environment of the component that has ``autoDeploy``."""
        mine = [d for d in environments if d.component == event.component]
        if not mine:
            raise LocalTargetError(
                f"build requested for {event.component} at {event.tag}, but no desired "
                "state of that component was given: pass its environments"
            )
        started = time.monotonic()
        release = self.run_trigger(mine[0], event.tag, on_line=on_line)
        built_s = time.monotonic() - started
        return [
            dataclasses.replace(self._up(desired, release, None, None), build_s=built_s)
            for desired in mine
            if desired.target == "local" and desired.auto_deploy
        ]

    def tag_watcher(self, environments: Sequence[DesiredState]) -> TagWatcher:
        """A watcher of one component's tags; each new matching tag is built and deployed
        to the component's autoDeploy environments among ``environments``."""
        components = {d.component for d in environments}
        if len(components) != 1:
            raise LocalTargetError(
                f"a tag watcher watches one component, got {sorted(components)}: make one "
                "watcher per component"
            )
        first = environments[0]

        def build_and_deploy(event: BuildRequested) -> None:
            self.on_build_requested(event, environments)

        return TagWatcher.from_settings(
            self.settings,
            first.component,
            self._build_request(first, "").source,
            first.tag_pattern,
            build_and_deploy,
        )


def _is_a_target(target: LocalTarget) -> Target:
    """Checked by mypy: :class:`LocalTarget` implements the target port."""
    return target
