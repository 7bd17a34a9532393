"""The local target's Pulumi program: image repository, stable route and, once there is a
release, the service. Its outputs: ``url``, ``revision``, ``image_digest``, ``tag``."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import Output, ResourceOptions
from pulumi.dynamic import Resource

from shipyard.engine import Program
from shipyard.targets.local._providers import RepositoryProvider, RouteProvider, ServiceProvider
from shipyard.targets.local.runtime import RUNTIME_KEY, Runtime
from shipyard.targets.local.service_spec import ServiceSpec

__all__ = ["ImageRepository", "Service", "StableRoute", "local_program"]


class ImageRepository(Resource, module="shipyard-local", name="ImageRepository"):
    repository: Output[str]

    def __init__(self, name: str, repository: str, registry: str | None, runtime: Runtime) -> None:
        props = {"repository": repository, "registry": registry, RUNTIME_KEY: runtime.inputs()}
        super().__init__(RepositoryProvider(), name, props)


class StableRoute(Resource, module="shipyard-local", name="Route"):
    url: Output[str]
    listen_port: Output[int]

    def __init__(self, name: str, component: str, environment: str, runtime: Runtime) -> None:
        props: dict[str, Any] = {
            "component": component,
            "environment": environment,
            RUNTIME_KEY: runtime.inputs(),
            "url": None,
            "listen_port": None,
        }
        super().__init__(RouteProvider(), name, props)


class Service(Resource, module="shipyard-local", name="Service"):
    revision: Output[int]
    container: Output[str]
    timings: Output[dict[str, float]]

    def __init__(
        self,
        name: str,
        spec: ServiceSpec,
        runtime: Runtime,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "spec": spec.inputs(),
            "spec_hash": spec.spec_hash(),
            RUNTIME_KEY: runtime.inputs(),
            "revision": None,
            "container": None,
            "timings": None,
        }
        super().__init__(ServiceProvider(), name, props, opts)


def local_program(
    component: str,
    environment: str,
    *,
    repository: str,
    registry: str | None,
    runtime: Runtime,
    service: ServiceSpec | None,
) -> Program:
    """The stack of (component, environment); ``service=None`` provisions only the
    repository and the route (which answers 503 until a release is deployed)."""

    def program() -> None:
        repo = ImageRepository("repository", repository, registry, runtime)
        route = StableRoute("route", component, environment, runtime)
        pulumi.export("url", route.url)
        pulumi.export("repository", repo.repository)
        if service is None:
            pulumi.export("revision", 0)
            pulumi.export("image_digest", None)
            pulumi.export("tag", None)
            return
        deployed = Service("service", service, runtime, ResourceOptions(depends_on=[repo, route]))
        pulumi.export("revision", deployed.revision)
        pulumi.export("container", deployed.container)
        pulumi.export("image_digest", service.digest)
        pulumi.export("image", service.image)
        pulumi.export("image_id", service.image_id)
        pulumi.export("tag", service.tag)
        pulumi.export("timings", deployed.timings)

    return program
