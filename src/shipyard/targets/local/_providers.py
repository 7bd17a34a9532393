"""The local target's Pulumi dynamic providers. They run in Pulumi's provider process
(``python -m pulumi.dynamic``), which imports this module by name; every fact they need
arrives in their inputs (see :mod:`~shipyard.targets.local.runtime`).

Creates adopt what deterministic names and labels identify, so a create rerun after a
crash (PULUMI-FACTS: the engine drops a pending create and runs it again) converges on
the same single container, route and repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from shipyard.targets.local.errors import LocalTargetError
from shipyard.targets.local.revisions import (
    Rollout,
    current_revision,
    remove_service,
    roll_out,
)
from shipyard.targets.local.runtime import RUNTIME_KEY, Runtime
from shipyard.targets.local.service_spec import ServiceSpec

__all__ = ["RegistryUnreachableError", "RepositoryProvider", "RouteProvider", "ServiceProvider"]

_REGISTRY_TIMEOUT_S = 10.0


class RegistryUnreachableError(LocalTargetError):
    """The configured image registry does not answer its API."""


def _plain(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if not key.startswith("__")}


def _changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    return any(olds.get(key) != news.get(key) for key in keys)


class _Provider(ResourceProvider):
    serialize_as_secret_always = False
    """Nothing secret is captured; keep the state readable by the plain CLI."""

    watched: tuple[str, ...] = ()
    """Inputs whose change means an in-place update; nothing is ever replaced."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (*self.watched, RUNTIME_KEY)
        return DiffResult(changes=_changed(olds, news, keys), replaces=[], stables=[])


class RepositoryProvider(_Provider):
    """Where the images of a component go: a local namespace (nothing to create), or a
    registry repository (made by the first push; its registry must answer)."""

    watched = ("repository", "registry")

    def create(self, props: dict[str, Any]) -> CreateResult:
        _check_registry(props.get("registry"))
        return CreateResult(id_=str(props["repository"]), outs=_plain(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _check_registry(news.get("registry"))
        return UpdateResult(outs=_plain(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _plain(props))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Images outlive the stack unless the flow's destroy removes them by label."""


def _check_registry(registry: str | None) -> None:
    if not registry:
        return
    try:
        answer = httpx.get(f"http://{registry}/v2/", timeout=_REGISTRY_TIMEOUT_S, trust_env=False)
    except httpx.HTTPError as exc:
        raise RegistryUnreachableError(
            f"the image registry {registry} does not answer ({exc}): start it, or fix "
            "SHIPYARD_REGISTRY"
        ) from exc
    if answer.status_code not in (httpx.codes.OK, httpx.codes.UNAUTHORIZED):
        raise RegistryUnreachableError(
            f"{registry} answered HTTP {answer.status_code} on /v2/: is it a registry?"
        )


class RouteProvider(_Provider):
    """The stable address of (component, environment): a Caddy route on a loopback port
    chosen once. A route that already exists (an earlier, interrupted run) is adopted
    with its port and upstream."""

    watched = ("component", "environment")

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._ensure(props)
        return CreateResult(id_=f"{props['component']}/{props['environment']}", outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._ensure(news))

    def _ensure(self, props: dict[str, Any]) -> dict[str, Any]:
        proxy = Runtime.from_inputs(props).proxy()
        component, environment = str(props["component"]), str(props["environment"])
        old = proxy.route(component, environment)
        route = proxy.set_route(
            component,
            environment,
            old.upstream if old else "",
            listen_port=old.listen_port if old else None,
        )
        return {**_plain(props), "url": route.url, "listen_port": route.listen_port}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        proxy = Runtime.from_inputs(props).proxy()
        route = proxy.route(str(props["component"]), str(props["environment"]))
        if route is None:
            return ReadResult(None, {})
        return ReadResult(
            id_, {**_plain(props), "url": route.url, "listen_port": route.listen_port}
        )

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        proxy = Runtime.from_inputs(props).proxy()
        proxy.remove_route(str(props["component"]), str(props["environment"]))


class ServiceProvider(_Provider):
    """The running service: one revision container behind the route. An update starts a
    new revision and switches to it only once it is healthy."""

    watched = ("spec", "spec_hash")

    def create(self, props: dict[str, Any]) -> CreateResult:
        rollout = self._roll_out(props, previous=0)
        return CreateResult(id_=_service_id(props), outs=_service_outs(props, rollout))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        rollout = self._roll_out(
            news,
            previous=int(olds.get("revision") or 0),
            previous_container=olds.get("container"),
        )
        return UpdateResult(outs=_service_outs(news, rollout))

    def _roll_out(
        self, props: dict[str, Any], *, previous: int, previous_container: str | None = None
    ) -> Rollout:
        runtime = Runtime.from_inputs(props)
        spec = ServiceSpec.from_inputs(props["spec"])
        return roll_out(
            runtime.containers(),
            runtime.proxy(),
            spec,
            previous=previous,
            previous_container=previous_container,
            health_timeout_s=runtime.health_timeout_s,
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        runtime = Runtime.from_inputs(props)
        spec = ServiceSpec.from_inputs(props["spec"])
        found = current_revision(
            runtime.containers(),
            runtime.proxy(),
            spec.component,
            spec.environment,
            spec.port,
            instance=spec.instance,
        )
        if found is None:
            return ReadResult(None, {})
        outs = {
            **_plain(props),
            "revision": found.number,
            "container": found.container,
            "upstream": found.upstream,
            "spec_hash": found.spec_hash,
            "running_tag": found.tag,
        }
        return ReadResult(id_, outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        runtime = Runtime.from_inputs(props)
        spec = ServiceSpec.from_inputs(props["spec"])
        remove_service(
            runtime.containers(),
            runtime.proxy(),
            spec.component,
            spec.environment,
            instance=spec.instance,
            recorded_container=props.get("container"),
        )


def _service_id(props: Mapping[str, Any]) -> str:
    spec = props["spec"]
    return f"{spec['component']}/{spec['environment']}"


def _service_outs(props: Mapping[str, Any], rollout: Rollout) -> dict[str, Any]:
    revision = rollout.revision
    return {
        **_plain(props),
        "revision": revision.number,
        "container": revision.container,
        "upstream": revision.upstream,
        "running_tag": revision.tag,
        "adopted": rollout.adopted,
        "timings": dict(rollout.timings),
    }
