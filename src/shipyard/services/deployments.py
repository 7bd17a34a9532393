"""Request a deployment: record it queued on its stack and enqueue the job that runs it,
or, when the same release is already running (and really runs), record it ``unchanged``
at once with no job at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.catalog import CatalogError, Platform
from shipyard.jobs import JobKind, cancel, enqueue
from shipyard.services.desired import desired_state
from shipyard.services.errors import InvalidRequestError
from shipyard.services.targets import check_target
from shipyard.services.unchanged import matches_current, service_is_running
from shipyard.settings import Settings
from shipyard.store import models, transaction
from shipyard.store.audit import record_audit
from shipyard.store.builds import latest_image_build
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import create_deployment, get_deployment, set_deployment_status
from shipyard.store.enums import DeploymentStatus, JobState
from shipyard.store.environments import get_environment
from shipyard.store.releases import get_release
from shipyard.store.stacks import ensure_stack

__all__ = ["SYSTEM", "Actor", "cancel_deployment", "deploy", "request_deployment"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked, for the record (the API's principal, or a system actor)."""

    user_id: int | None = None
    token_id: int | None = None
    request_id: str | None = None


SYSTEM = Actor()
"""Shipyard itself (the tag watcher, a default in tests)."""


def _release_for(
    session: Session, component: models.Component, release_id: int, environment: str | None
) -> tuple[models.Release, models.Environment]:
    release = get_release(session, release_id)
    if release.component_id != component.id:
        raise InvalidRequestError(
            f"release {release_id} belongs to another component, not {component.ref}: "
            f"pick one of {component.ref}'s releases"
        )
    env = session.get_one(models.Environment, release.environment_id)
    if environment is not None and environment != env.name:
        raise InvalidRequestError(
            f"release {release_id} was resolved for environment {env.name!r}, not "
            f"{environment!r}: omit 'environment' or promote the release instead"
        )
    return release, env


def request_deployment(
    session: Session,
    namespace: str,
    name: str,
    *,
    environment: str | None = None,
    tag: str | None = None,
    release_id: int | None = None,
    force: bool = False,
    actor: Actor = Actor(),
    reason: str = "deploy",
    kind: JobKind = JobKind.deploy,
    payload: dict[str, Any] | None = None,
) -> models.Deployment:
    """A queued deployment of ``tag`` to ``environment`` (or of a release) and its job.

    ``reason`` names the operation (deploy, auto, rollback, promote, provision, preview,
    refresh, destroy); ``kind`` the job that runs it; ``payload`` adds to the job's."""
    component = get_component_by_ref(session, namespace, name)
    release: models.Release | None = None
    if release_id is not None:
        release, env = _release_for(session, component, release_id, environment)
    elif environment is not None and (tag is not None or kind is not JobKind.deploy):
        env = get_environment(session, environment)
    else:
        raise InvalidRequestError("give an environment and a tag, or a release id")
    check_target(env.target, env.name)
    stack = ensure_stack(session, component, env)
    job = enqueue(session, kind, stack.key)
    deployment = create_deployment(
        session,
        stack,
        tag=tag,
        release=release,
        reason=reason,
        force=force,
        requested_by_id=actor.user_id,
        job_id=job.id,
    )
    job.payload = {**(payload or {}), "deployment_id": deployment.id}
    record_audit(
        session,
        "deployment.request",
        "deployment",
        deployment.id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        request_id=actor.request_id,
        data={
            "stack": stack.key,
            "tag": deployment.tag,
            "release": release_id,
            "force": force,
            "reason": reason,
        },
    )
    session.flush()
    return deployment


@dataclass(frozen=True, slots=True)
class _Running:
    """What a tag would deploy, when it equals the stack's current release."""

    release_id: int
    outputs: dict[str, Any]


def _running_same(
    session: Session, namespace: str, name: str, environment: str, tag: str, platform: Platform
) -> _Running | None:
    component = get_component_by_ref(session, namespace, name)
    env = get_environment(session, environment)
    stack = ensure_stack(session, component, env)
    build = latest_image_build(session, component, tag)
    if build is None or build.image_digest is None:
        return None  # no image known for the tag: the job builds it
    try:
        desired = desired_state(component, env.name, platform)
    except CatalogError:
        return None  # the job reports the problem, recorded on the deployment
    release = matches_current(session, stack, build.image_digest, desired.hash_payload())
    if release is None:
        return None
    return _Running(release.id, dict(stack.outputs))


def _record_unchanged(
    session: Session, namespace: str, name: str, environment: str, running: _Running, actor: Actor
) -> models.Deployment | None:
    component = get_component_by_ref(session, namespace, name)
    stack = ensure_stack(session, component, get_environment(session, environment))
    if stack.current_release_id != running.release_id:
        return None  # another deployment finished in between: decide again in the job
    deployment = create_deployment(
        session,
        stack,
        release=session.get_one(models.Release, running.release_id),
        requested_by_id=actor.user_id,
        status=DeploymentStatus.unchanged,
    )
    deployment.url = stack.url
    record_audit(
        session,
        "deployment.unchanged",
        "deployment",
        deployment.id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        request_id=actor.request_id,
        data={"stack": stack.key, "tag": deployment.tag, "release": running.release_id},
    )
    session.flush()
    return deployment


def deploy(
    database: Engine,
    settings: Settings,
    platform: Platform | None,
    namespace: str,
    name: str,
    *,
    environment: str | None = None,
    tag: str | None = None,
    release_id: int | None = None,
    force: bool = False,
    actor: Actor = Actor(),
    reason: str = "deploy",
) -> models.Deployment:
    """Deploy a tag (or a release): ``unchanged`` at once when the same image and desired
    state already run (checked by inspecting the recorded container), else queued.

    Three short transactions, so the container check holds no database lock.
    """
    running: _Running | None = None
    if not force and platform is not None and tag is not None and environment is not None:
        with transaction(database) as session:
            running = _running_same(session, namespace, name, environment, tag, platform)
    if running is not None and service_is_running(settings, running.outputs):
        assert environment is not None
        with transaction(database) as session:
            recorded = _record_unchanged(session, namespace, name, environment, running, actor)
        if recorded is not None:
            return recorded
    with transaction(database) as session:
        return request_deployment(
            session,
            namespace,
            name,
            environment=environment,
            tag=tag,
            release_id=release_id,
            force=force,
            actor=actor,
            reason=reason,
        )


def cancel_deployment(
    session: Session, deployment_id: int, actor: Actor = Actor()
) -> models.Deployment:
    """Cancel a deployment: at once while queued; a running one is asked to stop (its
    job records ``cancelled`` when it has). A finished one is returned as it is."""
    deployment = get_deployment(session, deployment_id)
    if deployment.job_id is None or deployment.finished_at is not None:
        return deployment
    job = cancel(session, deployment.job_id)
    if job.state is JobState.cancelled:
        set_deployment_status(session, deployment, DeploymentStatus.cancelled, error="cancelled")
    record_audit(
        session,
        "deployment.cancel",
        "deployment",
        deployment.id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        request_id=actor.request_id,
        data={"job": job.id, "job_state": job.state.value},
    )
    return deployment
