"""Render a target's program offline: the resources it would declare and their inputs.

The program runs under Pulumi's mock runtime (``pulumi.runtime.set_mocks``): no engine,
no credentials, no cloud call. Inputs are recorded as Pulumi passes them to a provider
(camelCase). Works for every target; the local target's dynamic resources are rendered
with a placeholder container engine and proxy, since nothing is started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.runtime

from shipyard.catalog.state import DesiredState
from shipyard.engine import Program, StackRef
from shipyard.errors import ShipyardError
from shipyard.targets.base import Release
from shipyard.targets.gcp.config import BUILD_STACK, gcp_config
from shipyard.targets.gcp.plan import gcp_plan
from shipyard.targets.gcp.program import build_program, gcp_program
from shipyard.targets.local.builds import image_reference, image_repository
from shipyard.targets.local.program import local_program
from shipyard.targets.local.runtime import Runtime
from shipyard.targets.local.service_spec import service_spec

__all__ = ["RenderedResource", "UnknownTargetError", "as_json", "render", "render_program"]

_STACK_TYPE = "pulumi:pulumi:Stack"
_HIDDEN_INPUTS = frozenset({"__provider"})
"""A dynamic resource's pickled provider: bytes, not configuration."""
_PLACEHOLDER_RUNTIME = Runtime(
    engine_binary="docker", state_dir="<data-dir>/local", proxy_admin_url="http://127.0.0.1:2019"
)


class UnknownTargetError(ShipyardError):
    """A desired state names a target :func:`render` has no program for."""


@dataclass(frozen=True, slots=True)
class RenderedResource:
    type: str
    """Pulumi's type token, e.g. ``gcp:cloudrunv2/service:Service``."""
    name: str
    inputs: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "inputs": self.inputs}


def _plain(value: Any) -> Any:
    """Sorted keys, and whole numbers as ints (protobuf's Struct carries every number as a
    float), so that the output is stable and reads like the program."""
    if isinstance(value, Mapping):
        return {key: _plain(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[RenderedResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = {
            key: _plain(value) for key, value in args.inputs.items() if key not in _HIDDEN_INPUTS
        }
        if args.typ != _STACK_TYPE:
            self.resources.append(RenderedResource(args.typ, args.name, inputs))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def render_program(program: Program, *, project: str, stack: str) -> list[RenderedResource]:
    """Run ``program`` under Pulumi's mocks; the resources sorted by type, then name.

    Resources register concurrently, so declaration order is not stable from one run to the
    next: a sorted list diffs cleanly between two renders.
    """
    _ensure_event_loop()
    recorder = _Recorder()
    pulumi.runtime.set_mocks(recorder, project=project, stack=stack, preview=False)
    run: Callable[[], None] = pulumi.runtime.test(program)  # type: ignore[no-untyped-call]
    run()
    return sorted(recorder.resources, key=lambda resource: (resource.type, resource.name))


def _ensure_event_loop() -> None:
    """Pulumi's mock runtime runs on the thread's current event loop; give it one when an
    earlier ``asyncio.run`` left none (the policy then raises instead of creating one)."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _program(desired: DesiredState, release: Release) -> Program:
    if desired.target == "gcp":
        image = f"{gcp_plan(desired, None).image}:{release.tag}"
        # a deploy pins the digest of the tag's build, unknown offline: shown as such
        digest = release.digest or f"sha256:<digest of the {release.tag} build>"
        return gcp_program(gcp_plan(desired, Release(release.tag, image, digest)))
    if desired.target == "local":
        image = image_reference(desired.component, release.tag)
        spec = service_spec(
            desired,
            image_id=release.digest,
            image=image,
            digest=release.digest,
            tag=release.tag,
            instance="<instance>",
        )
        return local_program(
            desired.component,
            desired.environment,
            repository=image_repository(desired.component),
            registry=None,
            runtime=_PLACEHOLDER_RUNTIME,
            service=spec,
        )
    raise UnknownTargetError(
        f"{desired.component} ({desired.environment}): Shipyard has no program for target "
        f"{desired.target!r}: set the environment's `target` to gcp or local"
    )


def render(desired: DesiredState, *, tag: str = "latest") -> list[RenderedResource]:
    """The resources ``desired``'s target declares with the service running ``tag``.

    Raises the target's typed errors (e.g. an unsupported component) before any Pulumi run.
    """
    program = _program(desired, Release(tag, "", ""))
    ref = StackRef.of(desired.component, desired.environment)
    resources = render_program(program, project=ref.project, stack=ref.stack)
    if desired.target == "gcp" and not gcp_config(desired).per_environment:
        # what a deploy provisions first: the component's build stack (build once)
        plan = gcp_plan(desired, None)
        build = render_program(build_program(plan), project=ref.project, stack=BUILD_STACK)
        resources = sorted([*build, *resources], key=lambda r: (r.type, r.name))
    return resources


def as_json(resources: list[RenderedResource]) -> Mapping[str, Any]:
    return {"resources": [resource.as_dict() for resource in resources]}
