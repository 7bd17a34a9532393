"""The job handlers of the use cases: each runs in the job's child process, on the target
of the deployment's environment, and records its outcome on the deployment.

Rollback and promote are ``deploy`` jobs of a known image (the deployment's release, or
the payload's ``promote_release_id``); ``register_handlers`` puts these functions in a
worker's registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shipyard.clock import utc_now
from shipyard.engine import StackRef
from shipyard.errors import ShipyardError
from shipyard.jobs import HandlerRegistry, JobContext, JobKind, default_registry
from shipyard.services._job_run import JobRun, prepare_job_process, run_job
from shipyard.services.errors import NothingRunningError
from shipyard.services.targets import Deployed
from shipyard.services.unchanged import current_release, matches_current
from shipyard.store import models
from shipyard.store.builds import create_build, finish_build, latest_image_build
from shipyard.store.deployments import get_deployment
from shipyard.store.enums import BuildStatus, DeploymentStatus
from shipyard.store.releases import ensure_release, get_release
from shipyard.targets.base import Release

__all__ = [
    "SERVICE_HANDLERS",
    "deploy",
    "destroy",
    "prepare_job_process",
    "preview",
    "provision",
    "refresh",
    "register_handlers",
]

SERVICE_HANDLERS: Mapping[JobKind, str] = {
    JobKind.provision: f"{__name__}:provision",
    JobKind.deploy: f"{__name__}:deploy",
    JobKind.preview: f"{__name__}:preview",
    JobKind.refresh: f"{__name__}:refresh",
    JobKind.destroy: f"{__name__}:destroy",
    JobKind.deliver: "shipyard.services.deliveries:deliver",
}

Outcome = tuple[DeploymentStatus, dict[str, Any]]


def register_handlers(registry: HandlerRegistry | None = None) -> HandlerRegistry:
    """Run every service job kind with these handlers (in ``registry``, else the default)."""
    target = registry or default_registry()
    for kind, handler in SERVICE_HANDLERS.items():
        target.register(kind, handler)
    return target


def deploy(ctx: JobContext) -> dict[str, Any]:
    return run_job(ctx, _deploy)


def provision(ctx: JobContext) -> dict[str, Any]:
    return run_job(ctx, _provision)


def destroy(ctx: JobContext) -> dict[str, Any]:
    return run_job(ctx, _destroy)


def preview(ctx: JobContext) -> dict[str, Any]:
    return run_job(ctx, _preview)


def refresh(ctx: JobContext) -> dict[str, Any]:
    return run_job(ctx, _refresh)


# -- deploy -------------------------------------------------------------------------------


def _deploy(run: JobRun) -> Outcome:
    known = _known_release(run)
    release = known or _image_for_tag(run, _tag(run))
    desired_state = run.desired.hash_payload()
    if not run.force:
        unchanged = _unchanged(run, release.digest, desired_state)
        if isinstance(unchanged, tuple):
            return unchanged
        if unchanged == _DRIFTED:
            # The state still records the lost service: read it back, so the up recreates it.
            ref = StackRef.of(run.desired.component, run.desired.environment)
            run.target.engine.refresh(ref, on_event=run.ctx.engine_sink(), cancel=run.ctx.cancel)
    if known is None:
        deployed = run.target.deploy(
            run.desired,
            release,
            on_event=run.ctx.engine_sink(),
            on_line=run.on_line,
            cancel=run.ctx.cancel,
        )
    else:
        deployed = run.target.rollback(
            run.desired,
            release,
            on_event=run.ctx.engine_sink(),
            cancel=run.ctx.cancel,
        )
    return _record_deployed(run, deployed, desired_state)


def _tag(run: JobRun) -> str:
    if run.tag is None:
        raise NothingRunningError(
            f"deployment {run.deployment_id} names neither a tag nor a release"
        )
    return run.tag


def _known_release(run: JobRun) -> Release | None:
    """The image of a rollback (the deployment's release) or a promote (the payload's),
    built again from the release's tag when it is gone (:func:`_rebuilt`). None for a
    promote to a target that builds per environment (gcp) when the image is not in this
    environment's registry: the deploy then builds the release's tag."""
    promoted = run.ctx.payload.get("promote_release_id")
    release_id = promoted or run.release_id
    if release_id is None:
        return None
    with run.session(read_only=True) as session:
        recorded = _recorded(session, get_release(session, int(release_id)))
    found = _image_of(run, recorded)
    if found is not None:
        run.ctx.emit(
            "release.found",
            f"deploying release {release_id}: {found.image}",
            digest=recorded.digest,
        )
        return found
    if promoted and recorded.tag and run.target.builds_per_environment:
        run.ctx.emit(
            "release.rebuild",
            f"release {release_id} ({recorded.tag}) has no image in {run.environment}'s "
            f"registry: building {recorded.tag} there (same tag, a new digest)",
            level="warning",
            digest=recorded.digest,
        )
        return None
    return _rebuilt(run, recorded)


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A release as Shipyard recorded it, with the commit its build was made from."""

    id: int
    tag: str | None
    image: str
    digest: str
    commit: str | None


def _recorded(session: Session, release: models.Release) -> _Recorded:
    build = session.get(models.Build, release.build_id) if release.build_id else None
    commit = build.commit if build is not None else None
    return _Recorded(release.id, release.tag, release.image, release.image_digest, commit)


def _image_of(run: JobRun, recorded: _Recorded) -> Release | None:
    """The recorded release's image, if this environment can still run it as recorded."""
    if not recorded.tag:
        return None
    image = Release(recorded.tag, recorded.image, recorded.digest, recorded.commit)
    found = run.target.release_of(run.desired, recorded.tag, image)
    return found if found is not None and found.digest == recorded.digest else None


def _rebuilt(run: JobRun, recorded: _Recorded) -> Release:
    """A recorded release whose image is gone (removed from the container engine): its
    tag built again, as a deploy of the tag does, and checked to be the commit the
    release was built from. A tag that moved since is refused: its build is other code."""
    tag = recorded.tag
    if not tag:
        raise NothingRunningError(
            f"release {recorded.id} ({recorded.digest}) has no image here any more and no "
            "tag to build it from: deploy a tag instead"
        )
    source = f" from commit {recorded.commit}" if recorded.commit else ""
    run.ctx.emit(
        "release.rebuild",
        f"release {recorded.id} ({tag}, {recorded.digest}) has no image here any more: "
        f"building {tag} again{source}",
        level="warning",
        release=recorded.id,
        digest=recorded.digest,
        commit=recorded.commit,
    )
    release = _image_for_tag(run, tag)
    if recorded.commit and release.commit and release.commit != recorded.commit:
        raise NothingRunningError(
            f"release {recorded.id} was built from commit {recorded.commit} of {tag}, but "
            f"{tag} now points to commit {release.commit}: the release cannot be built "
            f"again as it was; deploy {tag} to run the new commit, or pick another release"
        )
    return release


def _image_for_tag(run: JobRun, tag: str) -> Release:
    """The tag's image, built (and recorded as a build) when there is none yet."""
    with run.session(read_only=True) as session:
        found = latest_image_build(
            session, session.get_one(models.Component, run.component_id), tag
        )
        built = (
            Release(tag, found.image, found.image_digest, found.commit)
            if found is not None and found.image and found.image_digest
            else None
        )
    existing = run.target.release_of(run.desired, tag, built)
    build_id = None
    if existing is None or built is None or built.digest != existing.digest:
        # Checked again under the write lock: another environment's deploy of the
        # component may have recorded the build meanwhile.
        with run.session() as session:
            component = session.get_one(models.Component, run.component_id)
            recorded = latest_image_build(session, component, tag)
            if existing is None or recorded is None or recorded.image_digest != existing.digest:
                build_id = create_build(session, component, tag, job_id=run.ctx.job_id).id
    if build_id is None:
        assert existing is not None
        run.ctx.emit("build.skipped", f"image for {tag} exists: {existing.image}")
        return existing
    if existing is None:
        run.ctx.emit("build.started", f"building {run.desired.component} at {tag}", build=build_id)
        release = _build(run, tag, build_id)
    else:
        release = existing
    with run.session() as session:
        finish_build(
            session,
            session.get_one(models.Build, build_id),
            BuildStatus.succeeded,
            image=release.image,
            image_digest=release.digest,
            commit=release.commit,
        )
    run.ctx.emit("build.succeeded", f"image {release.image}", digest=release.digest, build=build_id)
    return release


def _build(run: JobRun, tag: str, build_id: int) -> Release:
    try:
        return run.target.build(run.desired, tag, on_line=run.on_line)
    except ShipyardError as exc:  # recorded on the build, then re-raised
        with run.session() as session:
            build = session.get_one(models.Build, build_id)
            finish_build(session, build, BuildStatus.failed, error=f"{type(exc).__name__}: {exc}")
        raise


_DRIFTED = "drifted"


def _unchanged(run: JobRun, digest: str, desired_state: dict[str, Any]) -> Outcome | str | None:
    """The outcome when the same release runs; ``_DRIFTED`` when it is recorded as
    running but is not; None when another release runs."""
    with run.session(read_only=True) as session:
        stack = session.get_one(models.Stack, run.stack_id)
        current = matches_current(session, stack, digest, desired_state)
        outputs = dict(stack.outputs)
    if current is None:
        return None
    if not run.target.is_running(run.desired, outputs):
        run.ctx.emit(
            "drift.detected",
            "the recorded service is not running as recorded: deploying it again",
            level="warning",
            container=outputs.get("container"),
        )
        return _DRIFTED
    with run.session() as session:
        deployment = get_deployment(session, run.deployment_id)
        deployment.release_id = current.id
        stack = session.get_one(models.Stack, run.stack_id)
        result = {"release": current.id, "url": stack.url}
        return run.settle(session, deployment, DeploymentStatus.unchanged, result, url=stack.url)


def _record_deployed(
    run: JobRun, deployed: Deployed, desired_state: dict[str, Any], *, provisioned: bool = False
) -> Outcome:
    assert deployed.release is not None
    with run.session() as session:
        component = session.get_one(models.Component, run.component_id)
        environment = session.get_one(models.Environment, run.environment_id)
        build = latest_image_build(session, component, deployed.release.tag)
        release = ensure_release(
            session,
            component,
            environment,
            image=deployed.release.image,
            image_digest=deployed.release.digest,
            desired_state=desired_state,
            tag=deployed.release.tag,
            build=build,
        )
        deployment = get_deployment(session, run.deployment_id)
        deployment.release_id = release.id
        stack = session.get_one(models.Stack, run.stack_id)
        stack.outputs = {
            "url": deployed.url,
            "revision": deployed.revision,
            **deployed.outputs,
            "image": deployed.release.image,
            "image_digest": deployed.release.digest,
            "tag": deployed.release.tag,
            "component": run.desired.component,
            "environment": run.environment,
        }
        stack.destroyed_at = None
        if provisioned:
            stack.provisioned_at = utc_now()
        result = {
            "release": release.id,
            "url": deployed.url,
            "revision": deployed.revision,
            "changes": dict(deployed.changes),
        }
        return run.settle(session, deployment, DeploymentStatus.succeeded, result, url=deployed.url)


# -- the other operations -------------------------------------------------------------


def _succeeded_keeping_release(
    run: JobRun, result: dict[str, Any], url: str | None = None
) -> Outcome:
    """Provision, preview, refresh: the stack's current release stays current."""
    with run.session() as session:
        stack = session.get_one(models.Stack, run.stack_id)
        deployment = get_deployment(session, run.deployment_id)
        deployment.release_id = stack.current_release_id
        if url is not None:
            stack.url = url
            stack.provisioned_at = utc_now()
            stack.destroyed_at = None
        return run.settle(session, deployment, DeploymentStatus.succeeded, result, url=stack.url)


def _provision(run: JobRun) -> Outcome:
    """The stack's infrastructure, its running release kept. A recorded release whose
    image is gone is built again from its tag (:func:`_rebuilt`) and runs as a new
    release; a provision never fails for want of an image Shipyard can build."""
    gone = _release_image_gone(run)
    if gone is not None:
        release = _rebuilt(run, gone)
        deployed = run.target.rollback(
            run.desired, release, on_event=run.ctx.engine_sink(), cancel=run.ctx.cancel
        )
        return _record_deployed(run, deployed, run.desired.hash_payload(), provisioned=True)
    deployed = run.target.provision(
        run.desired, on_event=run.ctx.engine_sink(), cancel=run.ctx.cancel
    )
    result = {"url": deployed.url, "changes": dict(deployed.changes)}
    return _succeeded_keeping_release(run, result, deployed.url)


def _release_image_gone(run: JobRun) -> _Recorded | None:
    """The stack's current release when its image is no longer there; else None."""
    with run.session(read_only=True) as session:
        current = current_release(session, session.get_one(models.Stack, run.stack_id))
        recorded = _recorded(session, current) if current is not None else None
    if recorded is None or _image_of(run, recorded) is not None:
        return None
    return recorded


def _destroy(run: JobRun) -> Outcome:
    changes = run.target.destroy(run.desired, on_event=run.ctx.engine_sink(), cancel=run.ctx.cancel)
    with run.session() as session:
        deployment = get_deployment(session, run.deployment_id)
        deployment.release_id = None
        stack = session.get_one(models.Stack, run.stack_id)
        stack.url = None
        stack.outputs = {}
        stack.destroyed_at = utc_now()
        return run.settle(
            session, deployment, DeploymentStatus.succeeded, {"changes": dict(changes)}
        )


def _preview(run: JobRun) -> Outcome:
    release = _image_for_tag(run, run.tag) if run.tag else run.target.current_release(run.desired)
    ref = StackRef.of(run.desired.component, run.desired.environment)
    result = run.target.engine.preview(
        ref,
        run.target.program(run.desired, release),
        on_event=run.ctx.engine_sink(),
        cancel=run.ctx.cancel,
    )
    changes = dict(result.changes)
    run.ctx.emit("preview.diff", _diff_line(changes), changes=changes, changed=result.changed)
    return _succeeded_keeping_release(run, {"changes": changes, "changed": result.changed})


def _diff_line(changes: Mapping[str, int]) -> str:
    parts = [f"{count} to {op}" for op, count in sorted(changes.items()) if count]
    return "preview: " + (", ".join(parts) or "no resources")


def _refresh(run: JobRun) -> Outcome:
    ref = StackRef.of(run.desired.component, run.desired.environment)
    result = run.target.engine.refresh(ref, on_event=run.ctx.engine_sink(), cancel=run.ctx.cancel)
    return _succeeded_keeping_release(run, {"changes": dict(result.changes)})
