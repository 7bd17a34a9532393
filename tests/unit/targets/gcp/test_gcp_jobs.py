"""The job handlers on a ``gcp`` environment: the real store, handlers, ``open_target``,
Application Default Credentials and Cloud Build client, against the fake Cloud Build API
on 127.0.0.1 (``fake_cloud_build.py``) and the real engine (Pulumi CLI).

No ``gcp`` provider plugin can be installed here, so no ``up`` of ``pulumi_gcp``
resources can run: each deploy is followed through the trigger and the build (events,
build record, digest) to ``up``, where it must stop with the plugin error that says how
to install it. The program ``up`` gets is checked under Pulumi's mocks in
``test_gcp_program.py``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from fake_cloud_build import DIGEST, FakeCloudBuild, serve, write_adc
from sqlalchemy import Engine

from shipyard.catalog import DesiredState, load_components, load_platform
from shipyard.engine import CancelToken
from shipyard.jobs import JobContext, JobKind
from shipyard.jobs.handlers import Emit
from shipyard.services import handlers
from shipyard.services.components import register
from shipyard.services.deployments import request_deployment
from shipyard.services.errors import TargetUnavailableError
from shipyard.services.operations import request_promote
from shipyard.services.platform import sync_environments
from shipyard.services.targets import AVAILABLE_TARGETS, check_target, open_target
from shipyard.settings import Settings
from shipyard.store import models, open_database, transaction, upgrade
from shipyard.store.components import get_component_by_ref
from shipyard.store.environments import get_environment
from shipyard.store.releases import ensure_release
from shipyard.store.stacks import ensure_stack
from shipyard.targets.base import Release
from shipyard.targets.gcp import GcpCredentialsError, GcpPluginMissingError, gcp_config

pytestmark = pytest.mark.integration  # the real Pulumi CLI runs each `up`

SLUG = {"github.com/project-slug": "acme/orders-api"}
TAG = "v1.2.3"


@dataclass
class World:
    settings: Settings
    database: Engine
    fake: FakeCloudBuild
    state: DesiredState
    events: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def run(self, deployment_id: int) -> None:
        """Run the deployment's job in a child process, as a worker does; its events
        land in ``events``, its error is raised again here (same type and message)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_child, args=(self.settings, deployment_id, child))
        process.start()
        child.close()
        error: tuple[type[Exception], str] | None = None
        while True:
            try:
                message = parent.recv()
            except EOFError:
                break
            if message[0] == "event":
                self.events.append(message[1])
            elif message[0] == "error":
                error = message[1], message[2]
        process.join(timeout=60)
        parent.close()
        assert process.exitcode == 0, f"the job's child exited {process.exitcode}"
        if error is not None:
            raise error[0](error[1])

    def deployment(self, deployment_id: int) -> models.Deployment:
        with transaction(self.database) as session:
            found = session.get_one(models.Deployment, deployment_id)
            session.expunge(found)
            return found

    def kinds(self) -> list[str]:
        return [kind for kind, *_ in self.events]


@pytest.fixture
def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_component: Callable[..., tuple[Path, Path]],
    desired: Callable[..., DesiredState],
) -> Iterator[World]:
    state = desired("orders-api", "prod", SLUG)
    config = gcp_config(state)
    fake = FakeCloudBuild({config.trigger_name}, image=f"{config.registry_uri}/orders-api")
    catalog, platform = write_component("orders-api", SLUG)
    with serve(fake):
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(write_adc(tmp_path / "adc.json", fake))
        )
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=f"sqlite:///{tmp_path / 'shipyard.db'}",
            platform=platform,
            gcp_cloud_build_endpoint=fake.endpoint,
            gcp_build_poll_interval=0.01,
        )
        database = open_database(settings)
        upgrade(database)
        with transaction(database) as session:
            sync_environments(session, load_platform(platform))
            register(session, load_components(catalog), str(catalog.parent))
        try:
            yield World(settings, database, fake, state)
        finally:
            database.dispose()


def _child(settings: Settings, deployment_id: int, conn: Connection) -> None:
    database = open_database(settings)
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        job = session.get_one(models.Job, deployment.job_id)
        job_id, kind, key, payload = job.id, job.kind, job.stack_key, dict(job.payload)
    database.dispose()

    def append(kind: str, message: str, level: str, data: dict[str, Any] | None) -> None:
        conn.send(("event", (kind, message, level, data or {})))

    ctx = JobContext(
        job_id=job_id,
        kind=JobKind(kind),
        stack_key=key,
        payload=payload,
        attempt=1,
        needs_recovery=False,
        settings=settings,
        cancel=CancelToken(),
        emit=Emit(append),
    )
    try:
        handlers.deploy(ctx)
    except Exception as exc:  # sent to the test, which raises it again
        conn.send(("error", type(exc), str(exc)))
    finally:
        conn.close()


def _deploy(world: World, tag: str = TAG) -> int:
    with transaction(world.database) as session:
        return request_deployment(session, "default", "orders-api", environment="prod", tag=tag).id


def _build_lines(world: World) -> list[str]:
    return [message for kind, message, *_ in world.events if kind == "build.log"]


def test_gcp_is_an_available_target() -> None:
    assert "gcp" in AVAILABLE_TARGETS
    check_target("gcp", "prod")
    with pytest.raises(TargetUnavailableError, match=r"targets 'aws'.*platform\.yaml"):
        check_target("aws", "prod")


def test_a_deploy_runs_the_trigger_records_the_build_and_ups_its_digest(world: World) -> None:
    deployment_id = _deploy(world)
    with pytest.raises(GcpPluginMissingError) as stopped:
        world.run(deployment_id)

    # the trigger ran once, at the tag, on the regional route, with ADC's bearer token
    (run,) = world.fake.runs
    trigger = gcp_config(world.state).trigger_resource()
    assert run["path"] == f"/v1/{trigger}:run"
    assert run["body"]["source"]["tagName"] == TAG
    assert world.fake.authorizations and all(
        a.startswith("Bearer ") for a in world.fake.authorizations
    )
    # each status change of the build, with its log URL, is a line of the deployment's log
    lines = _build_lines(world)
    assert [line.split(": ")[1].split()[0] for line in lines] == ["QUEUED", "WORKING", "SUCCESS"]
    assert all("cloud-build/builds;region=europe-west1/build-1" in line for line in lines)
    # the build is recorded with the digest Cloud Build reported
    with transaction(world.database) as session:
        (build,) = session.query(models.Build).all()
        assert (build.status.value, build.ref, build.image_digest) == ("succeeded", TAG, DIGEST)
        assert build.image == f"{gcp_config(world.state).registry_uri}/orders-api:{TAG}"
    succeeded = [data for kind, _, _, data in world.events if kind == "build.succeeded"]
    assert succeeded[0]["digest"] == DIGEST

    # then `up`, which needs the gcp plugin: the error says where and how to install it
    message = str(stopped.value)
    assert "pulumi plugin install resource gcp v10.2.0" in message
    assert str(world.settings.data_dir / "pulumi-home") in message
    assert "docs/gcp-target.md" in message
    failed = world.deployment(deployment_id)
    assert failed.status.value == "failed"
    assert failed.error is not None and failed.error.startswith("GcpPluginMissingError: ")


def test_a_tag_built_for_the_environment_is_not_built_again(world: World) -> None:
    with pytest.raises(GcpPluginMissingError):
        world.run(_deploy(world))
    world.events.clear()
    with pytest.raises(GcpPluginMissingError):
        world.run(_deploy(world))
    assert len(world.fake.runs) == 1  # the recorded build's digest is deployed again
    assert "build.skipped" in world.kinds() and "build.started" not in world.kinds()


def test_promote_from_a_local_environment_builds_the_tag_with_the_gcp_trigger(
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
    with pytest.raises(GcpPluginMissingError):
        world.run(deployment_id)
    rebuild = [e for e in world.events if e[0] == "release.rebuild"]
    assert rebuild and rebuild[0][2] == "warning" and "prod's registry" in rebuild[0][1]
    (run,) = world.fake.runs
    assert run["body"]["source"]["tagName"] == TAG


def test_without_credentials_the_job_fails_naming_adc(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud ADC file
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # not on GCE: refused at once
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    deployment_id = _deploy(world)
    with pytest.raises(GcpCredentialsError, match="gcloud auth application-default login"):
        world.run(deployment_id)
    assert world.fake.runs == []
    failed = world.deployment(deployment_id)
    assert failed.status.value == "failed"
    assert failed.error is not None and "Application Default Credentials" in failed.error


def test_release_of_is_a_build_recorded_into_this_environment_s_registry(world: World) -> None:
    registry = gcp_config(world.state).registry_uri
    ours = Release(TAG, f"{registry}/orders-api:{TAG}", DIGEST)
    elsewhere = Release(TAG, f"localhost/default/orders-api:{TAG}", DIGEST)
    with open_target(world.settings, "gcp", "prod") as target:
        assert target.name == "gcp" and target.builds_per_environment
        assert target.release_of(world.state, TAG, ours) == ours
        assert target.release_of(world.state, TAG, elsewhere) is None
        assert target.release_of(world.state, TAG, None) is None
        assert target.release_of(world.state, "v9.9.9", ours) is None
        assert target.current_release(world.state) is None  # no stack yet
        assert not target.is_running(world.state, {"url": "https://x", "tag": TAG})
