"""Data functions of components, environments, stacks, builds, releases and deployments."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shipyard.store import NotFoundError, transaction
from shipyard.store.builds import create_build, finish_build, latest_image_build
from shipyard.store.components import get_component_by_ref, list_components, upsert_component
from shipyard.store.deployments import (
    create_deployment,
    get_deployment,
    list_deployments,
    previous_release,
    set_deployment_status,
    start_deployment,
)
from shipyard.store.enums import BuildStatus, DeploymentStatus
from shipyard.store.environments import get_environment, list_environments, next_environment
from shipyard.store.environments import upsert_environment as env
from shipyard.store.models import Component, Environment, Release, Stack
from shipyard.store.releases import desired_state_hash, ensure_release, find_release
from shipyard.store.stacks import ensure_stack, get_stack

DIGEST = "sha256:" + "a" * 64


def _component(session: Session, name: str = "orders-api", namespace: str = "default") -> Component:
    descriptor = {"kind": "Component", "metadata": {"name": name}}
    return upsert_component(session, namespace, name, descriptor=descriptor, owner="team-orders")


def _release(session: Session, component: Component, environment: Environment, tag: str) -> Release:
    return ensure_release(
        session,
        component,
        environment,
        image=f"localhost/orders-api:{tag}",
        image_digest=DIGEST,
        desired_state={"tag": tag, "port": 8080},
        tag=tag,
    )


def test_components_are_upserted_by_namespace_and_name(database: Engine) -> None:
    with transaction(database) as session:
        first = _component(session)
        again = upsert_component(
            session, "default", "orders-api", descriptor={"v": 2}, template="web-service"
        )
        _component(session, "billing", namespace="payments")

        assert again.id == first.id
        assert again.descriptor == {"v": 2} and again.template == "web-service"
        assert [c.ref for c in list_components(session)] == [
            "default/orders-api",
            "payments/billing",
        ]
        with pytest.raises(NotFoundError, match="component default/nope not found"):
            get_component_by_ref(session, "default", "nope")


def test_environments_keep_promotion_order(database: Engine) -> None:
    with transaction(database) as session:
        prod = env(session, "prod", target="gcp", position=2, settings={"min-instances": 1})
        dev = env(session, "dev", target="local", position=0, auto_deploy=True)
        staging = env(session, "staging", target="local", position=1)

        assert [e.name for e in list_environments(session)] == ["dev", "staging", "prod"]
        assert next_environment(session, dev) == staging
        assert next_environment(session, prod) is None
        assert get_environment(session, "prod").settings == {"min-instances": 1}


def test_a_stack_per_component_and_environment_named_by_key(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session, "billing", namespace="payments")
        dev = env(session, "dev", target="local", position=0)

        stack = ensure_stack(session, component, dev)

        assert ensure_stack(session, component, dev).id == stack.id
        assert stack.key == "payments/billing/dev"
        assert (stack.project, stack.stack_name) == ("payments.billing", "dev")
        assert get_stack(session, "payments/billing/dev").id == stack.id


def test_a_successful_build_of_a_tag_means_no_build_is_needed(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session)
        failed = create_build(session, component, "v1")
        finish_build(session, failed, BuildStatus.failed, error="exit 1")
        assert latest_image_build(session, component, "v1") is None

        built = create_build(session, component, "v1")
        finish_build(session, built, BuildStatus.succeeded, image="r/o:v1", image_digest=DIGEST)

        assert latest_image_build(session, component, "v1") == built
        assert latest_image_build(session, component, "v2") is None


def test_identical_desired_states_share_a_release(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session)
        dev = env(session, "dev", target="local", position=0)
        prod = env(session, "prod", target="gcp", position=1)

        v1 = _release(session, component, dev, "v1")

        assert _release(session, component, dev, "v1").id == v1.id
        assert _release(session, component, dev, "v2").id != v1.id
        assert _release(session, component, prod, "v1").id != v1.id
        assert v1.desired_state_hash == desired_state_hash(DIGEST, {"port": 8080, "tag": "v1"})
        assert v1.desired_state_hash != desired_state_hash("sha256:" + "b" * 64, {"tag": "v1"})


def test_deployments_record_the_running_release_and_what_to_roll_back_to(
    database: Engine,
) -> None:
    with transaction(database) as session:
        component = _component(session)
        dev = env(session, "dev", target="local", position=0)
        stack = ensure_stack(session, component, dev)
        v1, v2 = (_release(session, component, dev, tag) for tag in ("v1", "v2"))

        for release in (v1, v2):
            deployment = create_deployment(session, stack, release=release)
            assert deployment.status is DeploymentStatus.queued and deployment.tag == release.tag
            set_deployment_status(session, deployment, DeploymentStatus.running)
            set_deployment_status(
                session, deployment, DeploymentStatus.succeeded, url="http://127.0.0.1:9000"
            )
        failed = create_deployment(session, stack, tag="v3")
        set_deployment_status(session, failed, DeploymentStatus.failed, error="pulumi up failed")

        session.refresh(stack)
        assert stack.current_release_id == v2.id
        assert stack.url == "http://127.0.0.1:9000"
        assert previous_release(session, stack) == v1
        assert [d.tag for d in list_deployments(session, stack)] == ["v3", "v2", "v1"]
        assert get_deployment(session, failed.id).finished_at is not None


def test_a_job_starts_its_deployment_with_one_statement(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session)
        stack = ensure_stack(session, component, env(session, "dev", target="local", position=0))
        deployment_id = create_deployment(session, stack, tag="v1").id
    with transaction(database) as session:
        start_deployment(session.connection(), deployment_id)
    with transaction(database) as session:
        started = get_deployment(session, deployment_id)
        assert started.status is DeploymentStatus.running
        assert started.started_at is not None and started.finished_at is None
        with pytest.raises(NotFoundError, match="deployment 404 not found"):
            start_deployment(session.connection(), 404)


def test_a_release_is_found_by_its_desired_state_hash(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session)
        dev = env(session, "dev", target="local", position=0)
        v1 = _release(session, component, dev, "v1")
        assert find_release(session, component, dev, v1.desired_state_hash) == v1
        assert find_release(session, component, dev, "0" * 64) is None


def test_an_unchanged_deployment_is_recorded_finished(database: Engine) -> None:
    with transaction(database) as session:
        component = _component(session)
        dev = env(session, "dev", target="local", position=0)
        stack = ensure_stack(session, component, dev)

        deployment = create_deployment(
            session,
            stack,
            release=_release(session, component, dev, "v1"),
            status=DeploymentStatus.unchanged,
        )

        assert deployment.finished_at is not None
        assert session.get_one(Stack, stack.id).current_release_id is None
