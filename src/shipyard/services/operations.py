"""Request the other operations on a stack: provision, rollback, promote, preview,
refresh, destroy. Each is recorded as a deployment (its ``reason`` names the operation)
with a queued job, so every one has a status, live events and a cancel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shipyard.jobs import JobKind
from shipyard.services.deployments import SYSTEM, Actor, request_deployment
from shipyard.services.errors import InvalidRequestError, NothingRunningError
from shipyard.services.unchanged import current_release
from shipyard.store import models
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import previous_release
from shipyard.store.environments import get_environment, next_environment
from shipyard.store.stacks import ensure_stack

__all__ = [
    "request_destroy",
    "request_preview",
    "request_promote",
    "request_provision",
    "request_refresh",
    "request_rollback",
]


def request_provision(
    session: Session, namespace: str, name: str, environment: str, actor: Actor = SYSTEM
) -> models.Deployment:
    """The seed's "create trigger": registry, trigger and route; a running release stays."""
    return request_deployment(
        session, namespace, name, environment=environment, actor=actor,
        reason="provision", kind=JobKind.provision,
    )  # fmt: skip


def request_destroy(
    session: Session, namespace: str, name: str, environment: str, actor: Actor = SYSTEM
) -> models.Deployment:
    return request_deployment(
        session, namespace, name, environment=environment, actor=actor,
        reason="destroy", kind=JobKind.destroy,
    )  # fmt: skip


def request_refresh(
    session: Session, namespace: str, name: str, environment: str, actor: Actor = SYSTEM
) -> models.Deployment:
    return request_deployment(
        session, namespace, name, environment=environment, actor=actor,
        reason="refresh", kind=JobKind.refresh,
    )  # fmt: skip


def request_preview(
    session: Session,
    namespace: str,
    name: str,
    environment: str,
    tag: str | None = None,
    actor: Actor = SYSTEM,
) -> models.Deployment:
    """The diff of deploying ``tag`` (of the running release without one); changes nothing."""
    return request_deployment(
        session, namespace, name, environment=environment, tag=tag, actor=actor,
        reason="preview", kind=JobKind.preview,
    )  # fmt: skip


def request_rollback(
    session: Session, namespace: str, name: str, environment: str, actor: Actor = SYSTEM
) -> models.Deployment:
    """Deploy the release that ran before the current one (forced: it is not running)."""
    component = get_component_by_ref(session, namespace, name)
    stack = ensure_stack(session, component, get_environment(session, environment))
    earlier = previous_release(session, stack)
    if earlier is None:
        raise NothingRunningError(
            f"{component.ref} has no earlier release in {environment} to roll back to: "
            "deploy a tag instead"
        )
    return request_deployment(
        session, namespace, name, release_id=earlier.id, actor=actor, reason="rollback",
        force=True,
    )  # fmt: skip


def request_promote(
    session: Session,
    namespace: str,
    name: str,
    source: str,
    destination: str | None = None,
    actor: Actor = SYSTEM,
) -> models.Deployment:
    """Deploy the image running in ``source`` to the next environment in platform order
    (or to ``destination``, which must come later), with that environment's config."""
    component = get_component_by_ref(session, namespace, name)
    from_env = get_environment(session, source)
    to_env = _destination(session, from_env, destination)
    release = current_release(session, ensure_stack(session, component, from_env))
    if release is None:
        raise NothingRunningError(
            f"nothing of {component.ref} runs in {source} to promote: deploy it there first"
        )
    return request_deployment(
        session, namespace, name, environment=to_env.name, tag=release.tag, actor=actor,
        reason="promote", payload={"promote_release_id": release.id},
    )  # fmt: skip


def _destination(
    session: Session, source: models.Environment, destination: str | None
) -> models.Environment:
    if destination is None:
        following = next_environment(session, source)
        if following is None:
            raise InvalidRequestError(
                f"{source.name} is the last environment of the platform: there is nothing "
                "to promote to"
            )
        return following
    chosen = get_environment(session, destination)
    if chosen.position <= source.position:
        raise InvalidRequestError(
            f"promotion goes down the platform's environment list: {destination} does not "
            f"come after {source.name}; promote to a later environment"
        )
    return chosen
