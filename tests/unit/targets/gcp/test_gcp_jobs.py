"""The job handlers on ``gcp`` environments: the real store, handlers, ``open_target``,
Application Default Credentials and Cloud Build client, against the fake Google on
127.0.0.1. Pulumi's gcp plugin cannot be installed here, so each ``up`` runs the program
under Pulumi's mocks on the same fake (``FakeEngine``): what a deploy provisions is what
Cloud Build, Artifact Registry and Cloud Run then find.

The platform (conftest.py): dev is local, staging (acme-staging, the build project) and
prod (acme-prod) are gcp."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from shipyard.catalog import DesiredState, load_components, load_platform
from shipyard.engine import CancelToken
from shipyard.jobs import JobContext, JobKind
from shipyard.jobs.handlers import Emit
from shipyard.services import handlers
from shipyard.services.components import register
from shipyard.services.deployments import request_deployment
from shipyard.services.errors import TargetUnavailableError
from shipyard.services.operations import request_promote, request_provision, request_rollback
from shipyard.services.platform import sync_environments
from shipyard.services.targets import AVAILABLE_TARGETS, check_target, open_target
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction, upgrade
from shipyard.store.components import get_component_by_ref
from shipyard.store.environments import get_environment
from shipyard.store.releases import ensure_release
from shipyard.store.stacks import ensure_stack
from shipyard.targets.base import Release
from shipyard.targets.gcp import GcpCredentialsError, ReleaseImageGoneError, gcp_config
from shipyard.testing.google_fake import FakeEngine, FakeGoogle, serve, write_adc

pytestmark = pytest.mark.integration  # a REST server, real ADC and a job per test (~3 s)

SLUG = {"github.com/project-slug": "acme/orders-api"}
REMOTE = "https://github.com/acme/orders-api.git"
TAG = "v1.2.3"


@dataclass
class World:
    settings: Settings
    database: Engine
    google: FakeGoogle
    engine: FakeEngine
    staging: DesiredState
    prod: DesiredState
    events: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def run(self, deployment_id: int) -> models.Deployment:
        """Run the deployment's job here, as a worker's job process does."""
        with transaction(self.database) as session:
            deployment = session.get_one(models.Deployment, deployment_id)
            job = session.get_one(models.Job, deployment.job_id)
            job_id, kind, key, payload = job.id, job.kind, job.stack_key, dict(job.payload)

        def append(kind: str, message: str, level: str, data: dict[str, Any] | None) -> None:
            self.events.append((kind, message, level, data or {}))

        ctx = JobContext(
            job_id=job_id,
            kind=JobKind(kind),
            stack_key=key,
            payload=payload,
            attempt=1,
            needs_recovery=False,
            settings=self.settings,
            cancel=CancelToken(),
            emit=Emit(append),
        )
        run = handlers.provision if ctx.kind == JobKind.provision else handlers.deploy
        run(ctx)
        return self.deployment(deployment_id)

    def deployment(self, deployment_id: int) -> models.Deployment:
        with transaction(self.database) as session:
            found = session.get_one(models.Deployment, deployment_id)
            session.expunge(found)
            return found

    def kinds(self) -> list[str]:
        return [kind for kind, *_ in self.events]

    def running(self, state: DesiredState) -> str | None:
        return self.google.running_digest(gcp_config(state).service_resource)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_component: Callable[..., tuple[Path, Path]],
    desired: Callable[..., DesiredState],
) -> Iterator[World]:
    """The component's annotations: SLUG, or the test's (indirect parametrization)."""
    annotations = getattr(request, "param", SLUG)
    staging = desired("orders-api", "staging", annotations)
    prod = desired("orders-api", "prod", annotations)
    catalog, platform = write_component("orders-api", annotations)
    google = FakeGoogle("acme-staging", "acme-prod")
    google.connect("acme-staging", "europe-west4")  # the platform team's 2nd-gen connection
    google.connect("acme-prod", "europe-west1")  # (used by build: per-environment)
    engine = FakeEngine(google)

    class _Engines:
        @staticmethod
        def from_settings(settings: Settings) -> FakeEngine:
            return engine

    monkeypatch.setattr("shipyard.targets.gcp.flow.Engine", _Engines)
    with serve(google):
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(write_adc(tmp_path / "adc.json", google))
        )
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=f"sqlite:///{tmp_path / 'shipyard.db'}",
            platform=platform,
            gcp_cloud_build_endpoint=google.endpoint,
            gcp_build_poll_interval=0.001,
        )
        database = open_database(settings)
        upgrade(database)
        with transaction(database) as session:
            sync_environments(session, load_platform(platform))
            register(session, load_components(catalog), str(catalog.parent))
        try:
            yield World(settings, database, google, engine, staging, prod)
        finally:
            database.dispose()


def _deploy(world: World, environment: str, tag: str = TAG) -> int:
    with transaction(world.database) as session:
        return request_deployment(
            session, "default", "orders-api", environment=environment, tag=tag
        ).id


def _builds(world: World) -> list[tuple[str, str, str | None]]:
    with transaction(world.database) as session:
        return [
            (b.ref, b.status.value, b.image_digest)
            for b in session.query(models.Build).order_by(models.Build.id)
        ]


def test_gcp_is_an_available_target() -> None:
    assert "gcp" in AVAILABLE_TARGETS
    check_target("gcp", "prod")
    with pytest.raises(TargetUnavailableError, match=r"targets 'aws'.*platform\.yaml"):
        check_target("aws", "prod")


def test_a_first_deploy_provisions_builds_once_and_serves_the_digest(world: World) -> None:
    done = world.run(_deploy(world, "prod"))
    assert done.status.value == "succeeded", done.error
    # no trigger existed: the deploy provisioned it, then ran it once, at the tag
    (build,) = world.google.started_builds(TAG)
    runs = [c for c in world.google.calls if c[0] == "POST"]
    assert len(runs) == 1 and runs[0][2]["source"]["tagName"] == TAG
    assert world.google.authorizations and all(
        a.startswith("Bearer ") for a in world.google.authorizations
    )
    digest = build["results"]["images"][0]["digest"]
    assert _builds(world) == [(TAG, "succeeded", digest)]
    lines = [message for kind, message, *_ in world.events if kind == "build.log"]
    assert any("provisioning" in line and "no Cloud Build trigger" in line for line in lines)
    statuses = [line.split(": ")[1].split()[0] for line in lines if line.startswith("build ")]
    assert statuses == ["QUEUED", "WORKING", "SUCCESS"]
    assert world.running(world.prod) == digest
    assert done.url == world.google.services[gcp_config(world.prod).service_resource]["uri"]


def test_push_deploy_promote_rollback_through_the_jobs(world: World) -> None:
    with transaction(world.database) as session:  # as a registration does (autoDeploy)
        provision_id = request_provision(session, "default", "orders-api", "staging").id
    provisioned = world.run(provision_id)
    assert provisioned.status.value == "succeeded", provisioned.error
    assert world.google.started_builds() == []  # nothing to build yet
    (pushed,) = world.google.push_tag(REMOTE, TAG)  # the tag push builds it, once
    staged = world.run(_deploy(world, "staging"))
    assert staged.status.value == "succeeded", staged.error
    digest = world.google.started_builds(TAG)[0]["results"]["images"][0]["digest"]
    assert world.running(world.staging) == digest

    with transaction(world.database) as session:
        promote_id = request_promote(session, "default", "orders-api", "staging", "prod").id
    promoted = world.run(promote_id)
    assert promoted.status.value == "succeeded", promoted.error
    assert world.running(world.prod) == world.running(world.staging) == digest
    assert "release.found" in world.kinds() and "release.rebuild" not in world.kinds()

    newer = world.run(_deploy(world, "prod", "v1.3.0"))
    assert newer.status.value == "succeeded", newer.error
    assert world.running(world.prod) != digest
    with transaction(world.database) as session:
        rollback_id = request_rollback(session, "default", "orders-api", "prod").id
    rolled = world.run(rollback_id)
    assert rolled.status.value == "succeeded", rolled.error
    assert world.running(world.prod) == digest
    # one build per tag, in Google and in Shipyard's record
    assert [b["id"] for b in world.google.started_builds(TAG)] == [pushed]
    assert len(world.google.started_builds("v1.3.0")) == 1
    assert [ref for ref, *_ in _builds(world)] == [TAG, "v1.3.0"]


def test_promote_from_a_local_environment_builds_the_tag_with_the_trigger(
    world: World,
) -> None:
    with transaction(world.database) as session:
        component = get_component_by_ref(session, "default", "orders-api")
        dev = get_environment(session, "dev")
        stack = ensure_stack(session, component, dev)
        release = ensure_release(
            session,
            component,
            dev,
            image=f"localhost/default/orders-api:{TAG}",
            image_digest="sha256:" + "0f" * 32,
            desired_state={},
            tag=TAG,
            build=None,
        )
        stack.current_release_id = release.id
        session.flush()
        deployment_id = request_promote(session, "default", "orders-api", "dev", "prod").id
    done = world.run(deployment_id)
    assert done.status.value == "succeeded", done.error
    rebuild = [e for e in world.events if e[0] == "release.rebuild"]
    assert rebuild and rebuild[0][2] == "warning" and "prod's registry" in rebuild[0][1]
    (build,) = world.google.started_builds(TAG)
    assert world.running(world.prod) == build["results"]["images"][0]["digest"]


def test_a_tag_outside_the_pattern_fails_the_deploy_before_any_call(world: World) -> None:
    with pytest.raises(Exception, match=r"tag-pattern"):
        world.run(_deploy(world, "prod", "nightly-1"))
    assert world.google.calls == [] and world.engine.ups == []


def test_without_credentials_the_job_fails_naming_adc(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud ADC file
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # not on GCE: refused at once
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    deployment_id = _deploy(world, "prod")
    with pytest.raises(GcpCredentialsError, match="gcloud auth application-default login"):
        world.run(deployment_id)
    assert world.google.calls == []
    failed = world.deployment(deployment_id)
    assert failed.status.value == "failed"
    assert failed.error is not None and "Application Default Credentials" in failed.error


def test_release_of_is_a_build_in_the_build_project_s_registry(world: World) -> None:
    registry = gcp_config(world.prod).registry_uri
    assert registry == gcp_config(world.staging).registry_uri  # build once: one registry
    digest = "sha256:" + "ab" * 32
    ours = Release(TAG, f"{registry}/orders-api:{TAG}", digest)
    elsewhere = Release(TAG, f"localhost/default/orders-api:{TAG}", digest)
    with open_target(world.settings, "gcp", "prod") as target:
        assert target.name == "gcp"
        assert target.release_of(world.prod, TAG, ours) == ours
        assert target.release_of(world.prod, TAG, elsewhere) is None
        assert target.release_of(world.prod, TAG, None) is None
        assert target.release_of(world.prod, "v9.9.9", ours) is None
        assert target.current_release(world.prod) is None  # no stack yet


def test_a_rollback_to_an_image_no_longer_in_the_registry_fails_before_the_up(
    world: World,
) -> None:
    assert world.run(_deploy(world, "prod")).status.value == "succeeded"
    assert world.run(_deploy(world, "prod", "v1.3.0")).status.value == "succeeded"
    (first,) = world.google.started_builds(TAG)
    digest = first["results"]["images"][0]["digest"]
    world.google.delete_image(gcp_config(world.prod).repository_resource, digest)
    ups = list(world.engine.ups)
    with transaction(world.database) as session:
        rollback_id = request_rollback(session, "default", "orders-api", "prod").id
    with pytest.raises(ReleaseImageGoneError, match=r"deploy the tag v1\.2\.3 again"):
        world.run(rollback_id)
    failed = world.deployment(rollback_id)
    assert failed.status.value == "failed"
    assert failed.error is not None and failed.error.startswith("ReleaseImageGoneError: ")
    assert world.engine.ups == ups  # nothing was changed
    assert world.running(world.prod) != digest


@pytest.mark.parametrize(
    "world", [{**SLUG, "shipyard.dev/build": "per-environment"}], indirect=True
)
def test_per_environment_promote_rebuilds_the_tag_and_says_so(world: World) -> None:
    staged = world.run(_deploy(world, "staging"))
    assert staged.status.value == "succeeded", staged.error
    with transaction(world.database) as session:
        promote_id = request_promote(session, "default", "orders-api", "staging", "prod").id
    promoted = world.run(promote_id)
    assert promoted.status.value == "succeeded", promoted.error
    (rebuild,) = [e for e in world.events if e[0] == "release.rebuild"]
    assert rebuild[2] == "warning"
    assert "no image in prod's registry" in rebuild[1] and "a new digest" in rebuild[1]
    builds = world.google.started_builds(TAG)
    assert sorted(b["substitutions"]["_SHIPYARD_ENVIRONMENT"] for b in builds) == [
        "prod",
        "staging",
    ]
    assert world.running(world.prod) != world.running(world.staging)
