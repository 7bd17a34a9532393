"""A deploy request tells its job to start the ``up`` before reading its records only when
the ``up`` is certain and nothing else is queued on the stack (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shipyard.catalog import load_components, load_platform
from shipyard.jobs.queue import get_job
from shipyard.services.components import register
from shipyard.services.deployments import cancel_deployment, request_deployment
from shipyard.services.platform import sync_environments
from shipyard.services.unchanged import START_UP
from shipyard.store import models, transaction
from shipyard.store.builds import create_build, finish_build
from shipyard.store.components import get_component_by_ref
from shipyard.store.enums import BuildStatus
from shipyard.store.environments import get_environment
from shipyard.store.releases import ensure_release
from shipyard.store.stacks import ensure_stack
from shipyard.testing.samples import write_component, write_platform

HINT = {"target": "local", "component": "default/orders-api", "environment": "dev"}
DIGEST = "sha256:" + "a" * 64


def _setup(engine: Engine, tmp_path: Path) -> None:
    platform = load_platform(write_platform(tmp_path / "platform.yaml"))
    catalog = write_component(tmp_path / "orders-api", "orders-api")
    with transaction(engine) as session:
        sync_environments(session, platform)
        register(session, load_components(catalog), str(catalog.parent), platform)


def _request(engine: Engine, **options: Any) -> tuple[int, dict[str, Any]]:
    """The deployment's id and its job's payload."""
    with transaction(engine) as session:
        deployment = request_deployment(
            session, "default", "orders-api", environment="dev", tag="v1", **options
        )
        assert deployment.job_id is not None
        return deployment.id, dict(get_job(session, deployment.job_id).payload)


def _cancel(engine: Engine, deployment_id: int) -> None:
    with transaction(engine) as session:
        cancel_deployment(session, deployment_id)


def test_only_a_certain_up_on_an_idle_stack_may_start_before_its_job_reads(
    engine: Engine, tmp_path: Path
) -> None:
    _setup(engine, tmp_path)

    unbuilt, payload = _request(engine)
    assert START_UP not in payload  # the tag has no image yet: its job builds first
    _cancel(engine, unbuilt)

    with transaction(engine) as session:
        component = get_component_by_ref(session, "default", "orders-api")
        build = create_build(session, component, "v1")
        image = "localhost/default-orders-api:v1"
        finish_build(session, build, BuildStatus.succeeded, image=image, image_digest=DIGEST)

    first, payload = _request(engine)
    assert payload[START_UP] == HINT
    # A second request while the first is queued: what it reads may change before it runs.
    second, payload = _request(engine, force=True)
    assert START_UP not in payload
    _cancel(engine, first)
    _cancel(engine, second)

    with transaction(engine) as session:  # v1's image now runs on the stack
        component = get_component_by_ref(session, "default", "orders-api")
        environment = get_environment(session, "dev")
        release = ensure_release(
            session, component, environment, image=image, image_digest=DIGEST, desired_state={}
        )
        stack = ensure_stack(session, component, environment)
        session.get_one(models.Stack, stack.id).current_release_id = release.id

    same, payload = _request(engine)
    assert START_UP not in payload  # the same image: its job may find it unchanged
    _cancel(engine, same)
    _, payload = _request(engine, force=True)
    assert payload[START_UP] == HINT
