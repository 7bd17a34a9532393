"""Request a deployment: record it queued on its stack and enqueue the job that runs it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from shipyard.jobs import JobKind, enqueue
from shipyard.services.errors import InvalidRequestError
from shipyard.store import models
from shipyard.store.audit import record_audit
from shipyard.store.components import get_component_by_ref
from shipyard.store.deployments import create_deployment
from shipyard.store.environments import get_environment
from shipyard.store.releases import get_release
from shipyard.store.stacks import ensure_stack

__all__ = ["Actor", "request_deployment"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked, for the record (the API's principal, or a system actor)."""

    user_id: int | None = None
    token_id: int | None = None
    request_id: str | None = None


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
) -> models.Deployment:
    """A queued deployment of ``tag`` to ``environment`` (or of a release) and its job."""
    component = get_component_by_ref(session, namespace, name)
    release: models.Release | None = None
    if release_id is not None:
        release, env = _release_for(session, component, release_id, environment)
    elif environment is not None and tag is not None:
        env = get_environment(session, environment)
    else:
        raise InvalidRequestError("give an environment and a tag, or a release id")
    stack = ensure_stack(session, component, env)
    job = enqueue(session, JobKind.deploy, stack.key)
    deployment = create_deployment(
        session,
        stack,
        tag=tag,
        release=release,
        force=force,
        requested_by_id=actor.user_id,
        job_id=job.id,
    )
    job.payload = {"deployment_id": deployment.id}
    record_audit(
        session,
        "deployment.request",
        "deployment",
        deployment.id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        request_id=actor.request_id,
        data={"stack": stack.key, "tag": deployment.tag, "release": release_id, "force": force},
    )
    session.flush()
    return deployment
