"""Webhooks out, on SQLite and PostgreSQL: events written with the deployment's status
(and only then), fanned out and sent by ``deliver`` jobs taken from the real queue, to a
receiver on 127.0.0.1 that checks the signature; the retry schedule and its record."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from shipyard.engine import CancelToken
from shipyard.jobs import JobContext, claim, complete
from shipyard.jobs.handlers import Emit
from shipyard.services.deliveries import deliver, next_attempt_at, retry_schedule
from shipyard.settings import DELIVERY_RETRY_DELAYS, Settings
from shipyard.store import models, transaction
from shipyard.store.builds import create_build, finish_build
from shipyard.store.components import upsert_component
from shipyard.store.deployments import create_deployment, set_deployment_status, start_deployment
from shipyard.store.enums import BuildStatus, DeliveryStatus, DeploymentStatus, JobKind, JobState
from shipyard.store.environments import upsert_environment
from shipyard.store.stacks import ensure_stack
from shipyard.store.subscriptions import (
    OUTBOX_LANE,
    create_subscription,
    delete_subscription,
)
from shipyard.testing.fixtures import database, database_url, postgres_cluster
from shipyard.testing.webhook_receiver import Receiver, webhook_receiver

__all__ = ["database", "database_url", "postgres_cluster"]

QUICK = [0.05, 0.05, 0.05]


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    schedule = retry_schedule(Settings())
    assert sum(schedule, timedelta()) >= timedelta(hours=24)
    assert list(schedule) == sorted(schedule)  # each wait at least the one before
    assert len(schedule) == len(DELIVERY_RETRY_DELAYS) == 7  # 8 tries in all


def test_next_attempt_follows_the_schedule_then_stops() -> None:
    schedule = retry_schedule(Settings())
    now = time_zero()
    assert next_attempt_at(schedule, 1, now) == now + timedelta(seconds=5)
    assert next_attempt_at(schedule, 7, now) == now + timedelta(hours=10)
    assert next_attempt_at(schedule, 8, now) is None
    total = sum((schedule[n - 1] for n in range(1, 8)), timedelta())
    assert total == timedelta(seconds=99305)  # 27 h 35 min 5 s from the first try


def time_zero() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


# --- the outbox ----------------------------------------------------------------------------


def _deployment(session: Any, component: str = "shop", environment: str = "dev") -> int:
    env = upsert_environment(session, environment, target="local", position=0)
    comp = upsert_component(session, "default", component, descriptor={})
    return create_deployment(session, ensure_stack(session, comp, env), tag="v1.0.0").id


def _events(database: Engine) -> list[tuple[str, str | None, str | None]]:
    with transaction(database, read_only=True) as session:
        rows = session.scalars(select(models.OutboxEvent).order_by(models.OutboxEvent.id))
        return [(row.type, row.component, row.environment) for row in rows]


def _outbox_jobs(database: Engine) -> list[dict[str, Any]]:
    with transaction(database, read_only=True) as session:
        jobs = session.scalars(
            select(models.Job).where(models.Job.stack_key == OUTBOX_LANE).order_by(models.Job.id)
        )
        return [job.payload for job in jobs if job.kind is JobKind.deliver]


def test_each_status_change_is_one_event_in_the_same_transaction(database: Engine) -> None:
    with transaction(database) as session:
        deployment_id = _deployment(session)
        create_subscription(
            session,
            url="https://x.example.com/",
            events=["deployment.started", "deployment.failed", "deployment.succeeded"],
        )
    with transaction(database) as session:
        start_deployment(session.connection(), deployment_id)
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed, error="boom")
        set_deployment_status(session, deployment, DeploymentStatus.failed, error="boom")
    with pytest.raises(RuntimeError), transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.succeeded)
        raise RuntimeError("the deployment's transaction fails after its status")

    assert _events(database) == [
        ("deployment.started", "default/shop", "dev"),
        ("deployment.failed", "default/shop", "dev"),
    ]
    with transaction(database, read_only=True) as session:
        failed = session.scalars(
            select(models.OutboxEvent).where(models.OutboxEvent.type == "deployment.failed")
        ).one()
        assert failed.data["error"] == "boom" and failed.data["deployment"] == deployment_id
        assert failed.deployment_id == deployment_id
        status = session.get_one(models.Deployment, deployment_id).status
        event_ids = list(session.scalars(select(models.OutboxEvent.id)))
    assert status is DeploymentStatus.failed  # the rolled-back success left nothing
    # One fan-out job per event, in the same transactions (none for the rolled-back one).
    assert [payload["event_id"] for payload in _outbox_jobs(database)] == event_ids


def test_no_subscription_wanting_it_writes_nothing(database: Engine) -> None:
    with transaction(database) as session:
        deployment_id = _deployment(session)
        _deployment(session, "other", "staging")
        create_subscription(
            session,
            url="https://x.example.com/",
            events=["deployment.failed"],
            component="default/other",
        )
        create_subscription(
            session,
            url="https://y.example.com/",
            events=["deployment.failed"],
            environment="staging",
        )
        gone = create_subscription(
            session, url="https://z.example.com/", events=["deployment.failed"]
        )
        delete_subscription(session, gone.id)
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)
    assert _events(database) == []
    assert _outbox_jobs(database) == []


def test_unchanged_is_a_success_and_a_failed_build_an_event(database: Engine) -> None:
    with transaction(database) as session:
        create_subscription(
            session,
            url="https://x.example.com/",
            events=["deployment.succeeded", "build.failed"],
            environment="dev",
        )
        env = upsert_environment(session, "dev", target="local", position=0)
        comp = upsert_component(session, "default", "shop", descriptor={})
        stack = ensure_stack(session, comp, env)
        create_deployment(session, stack, status=DeploymentStatus.unchanged)
        job = models.Job(kind=JobKind.deploy, stack_key=stack.key, payload={})
        session.add(job)
        session.flush()
        create_deployment(session, stack, tag="v2", job_id=job.id)
        build = create_build(session, comp, "v2", job_id=job.id)
        finish_build(session, build, BuildStatus.failed, error="Dockerfile: no such file")
    events = _events(database)
    assert events == [
        ("deployment.succeeded", "default/shop", "dev"),
        ("build.failed", "default/shop", "dev"),
    ]


# --- sending -------------------------------------------------------------------------------


def _run_jobs(database: Engine, settings: Settings, *, until: float = 20.0) -> list[dict[str, Any]]:
    """Run queued ``deliver`` jobs through the real queue (claim, handler, complete) until
    none is left or due later than ``until`` seconds from now."""
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        job = claim(database, "test-worker", 30)
        if job is None:
            with transaction(database, read_only=True) as session:
                waiting = session.scalar(
                    select(models.Job.id).where(models.Job.state == JobState.queued).limit(1)
                )
            if waiting is None:
                return results
            time.sleep(0.02)
            continue
        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            stack_key=job.stack_key,
            payload=job.payload,
            attempt=job.attempts,
            needs_recovery=False,
            settings=settings,
            cancel=CancelToken(),
            emit=Emit(lambda *_: None),
            database=database,
        )
        result = deliver(ctx)
        complete(database, job.id, "test-worker", result)
        results.append(result)
    raise AssertionError("deliver jobs still queued at the deadline")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


def _subscribed(database: Engine, receiver: Receiver, events: list[str]) -> int:
    with transaction(database) as session:
        deployment_id = _deployment(session)
        subscription = create_subscription(session, url=receiver.url, events=events)
        receiver.secret = subscription.secret
    return deployment_id


def _deliveries(database: Engine) -> list[models.Delivery]:
    with transaction(database, read_only=True) as session:
        rows = list(session.scalars(select(models.Delivery).order_by(models.Delivery.id)))
        session.expunge_all()
        return rows


def _loopback(delays: list[float]) -> Settings:
    return Settings(delivery_allowed_networks=["127.0.0.0/8"], delivery_retry_delays=delays)


def test_a_failing_receiver_is_retried_until_it_answers(
    database: Engine, receiver: Receiver
) -> None:
    deployment_id = _subscribed(database, receiver, ["deployment.failed"])
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed, error="no image")
    receiver.fail_next([500, 503])

    _run_jobs(database, _loopback(QUICK))

    [delivery] = _deliveries(database)
    assert delivery.status is DeliveryStatus.succeeded
    assert (delivery.attempts, delivery.last_status_code) == (3, 204)
    assert [item.status for item in receiver.received] == [500, 503, 204]
    assert {item.headers["webhook-id"] for item in receiver.received} == {delivery.message_id}
    [accepted] = receiver.accepted()
    assert accepted.error is None  # the signature verified with the subscription's secret
    assert accepted.verified["type"] == "deployment.failed"
    assert accepted.verified["data"]["deployment"] == deployment_id
    assert accepted.verified["data"]["error"] == "no image"
    assert accepted.path == "/hooks/shipyard"
    with transaction(database, read_only=True) as session:
        tries = session.scalars(
            select(models.DeliveryAttempt).order_by(models.DeliveryAttempt.number)
        ).all()
        assert [(t.number, t.status_code) for t in tries] == [(1, 500), (2, 503), (3, 204)]
        # Each retry waited for its turn in the schedule.
        assert tries[1].started_at - tries[0].started_at >= timedelta(seconds=QUICK[0])


def test_a_schedule_spent_fails_the_delivery(database: Engine, receiver: Receiver) -> None:
    deployment_id = _subscribed(database, receiver, ["deployment.cancelled"])
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.cancelled)
    receiver.fail_next([500] * 10)

    _run_jobs(database, _loopback([0.01, 0.01]))

    [delivery] = _deliveries(database)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.failed, 3)
    assert delivery.last_status_code == 500 and delivery.next_attempt_at is None
    assert len(receiver.received) == 3


def test_loopback_is_refused_without_the_setting(database: Engine, receiver: Receiver) -> None:
    deployment_id = _subscribed(database, receiver, ["deployment.failed"])
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)

    _run_jobs(database, Settings(delivery_retry_delays=[0.01]))

    [delivery] = _deliveries(database)
    assert delivery.status is DeliveryStatus.failed
    assert delivery.last_status_code is None
    assert "127.0.0.1" in (delivery.last_error or "") and "refused" in (delivery.last_error or "")
    assert receiver.received == []


def test_deleting_the_subscription_stops_its_retries(database: Engine, receiver: Receiver) -> None:
    deployment_id = _subscribed(database, receiver, ["deployment.failed"])
    with transaction(database) as session:
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)
    receiver.fail_next([500] * 10)
    settings = _loopback([0.3])
    job = claim(database, "w", 30)  # the fan-out
    assert job is not None
    _run_one(database, settings, job)
    job = claim(database, "w", 30)  # the first try, answered 500
    assert job is not None
    _run_one(database, settings, job)
    with transaction(database) as session:
        delete_subscription(session, 1)

    _run_jobs(database, settings)

    [delivery] = _deliveries(database)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.cancelled, 1)
    assert len(receiver.received) == 1


def _run_one(database: Engine, settings: Settings, job: models.Job) -> None:
    ctx = JobContext(
        job_id=job.id,
        kind=job.kind,
        stack_key=job.stack_key,
        payload=job.payload,
        attempt=job.attempts,
        needs_recovery=False,
        settings=settings,
        cancel=CancelToken(),
        emit=Emit(lambda *_: None),
        database=database,
    )
    complete(database, job.id, "w", deliver(ctx))


def test_a_host_name_is_resolved_checked_and_connected_to_as_checked(
    database: Engine, receiver: Receiver
) -> None:
    """``localhost`` resolves to loopback: refused, unless loopback is allowed; then the
    try connects to the checked address and still names the URL's host."""
    port = receiver.url.split(":")[2].split("/")[0]
    with transaction(database) as session:
        deployment_id = _deployment(session)
        subscription = create_subscription(
            session,
            url=f"http://localhost:{port}/named",
            events=["deployment.failed"],
        )
        receiver.secret = subscription.secret
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)

    _run_jobs(database, Settings(delivery_retry_delays=[0.01]))
    [refused] = _deliveries(database)
    assert refused.status is DeliveryStatus.failed and receiver.received == []
    assert "refused: host localhost's address is 127.0.0.1" in (refused.last_error or "")

    with transaction(database) as session:
        subscription = session.get_one(models.Subscription, subscription.id)
        subscription.events = ["deployment.cancelled"]
        session.flush()
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.cancelled)
    _run_jobs(database, _loopback([0.01]))

    [accepted] = receiver.accepted()
    assert accepted.headers["host"] == f"localhost:{port}"
    assert accepted.path == "/named"
    assert accepted.verified["type"] == "deployment.cancelled"


def test_a_receiver_that_is_down_gets_the_event_once_it_is_back(database: Engine) -> None:
    with socket.socket() as probe:  # a port nobody listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with transaction(database) as session:
        deployment_id = _deployment(session)
        subscription = create_subscription(
            session, url=f"http://127.0.0.1:{port}/hooks/shipyard", events=["deployment.failed"]
        )
        secret = subscription.secret
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)
    settings = _loopback([0.2, 0.2, 0.2])
    for _ in range(2):  # the fan-out, then the first try: connection refused
        job = claim(database, "w", 30)
        assert job is not None
        _run_one(database, settings, job)
    [down] = _deliveries(database)
    assert (down.status, down.attempts, down.last_status_code) == (DeliveryStatus.pending, 1, None)
    assert "ConnectError" in (down.last_error or "")

    with webhook_receiver(port=port) as receiver:
        receiver.secret = secret
        _run_jobs(database, settings)
        [back] = _deliveries(database)
        assert (back.status, back.attempts, back.last_status_code) == (
            DeliveryStatus.succeeded,
            2,
            204,
        )
        [accepted] = receiver.received
        assert accepted.headers["webhook-id"] == back.message_id and accepted.error is None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for the name ``localhost`` (no IP address)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=Shipyard test CA", cwd=directory)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=directory)  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf",
             cwd=directory)  # fmt: skip
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_https_connects_to_the_checked_address_and_verifies_the_urls_host(
    database: Engine, tmp_path: Path
) -> None:
    """The try connects to 127.0.0.1 (the address checked) while TLS names and verifies
    ``localhost`` (the URL's host); the same receiver by address fails verification: its
    certificate names no address."""
    ca, certificate, key = _certificates(tmp_path)
    settings = Settings(
        delivery_allowed_networks=["127.0.0.0/8"],
        delivery_retry_delays=[0.01],
        delivery_ca_bundle=ca,
    )
    with webhook_receiver(tls=(certificate, key)) as receiver:
        assert receiver.url.startswith("https://localhost:")
        by_address = receiver.url.replace("localhost", "127.0.0.1")
        with transaction(database) as session:
            deployment_id = _deployment(session)
            named = create_subscription(session, url=receiver.url, events=["deployment.failed"])
            create_subscription(session, url=by_address, events=["deployment.failed"])
            receiver.secret = named.secret
            deployment = session.get_one(models.Deployment, deployment_id)
            set_deployment_status(session, deployment, DeploymentStatus.failed)

        _run_jobs(database, settings)

        accepted, mismatched = _deliveries(database)
        assert (accepted.status, accepted.last_status_code) == (DeliveryStatus.succeeded, 204)
        [received] = receiver.received
        assert received.error is None and received.headers["host"] == receiver.url.split("/")[2]
        assert mismatched.status is DeliveryStatus.failed and mismatched.attempts == 2
        assert "CERTIFICATE_VERIFY_FAILED" in (mismatched.last_error or "")


def test_delivery_lanes_are_never_skipped_as_an_environments(database: Engine) -> None:
    """A worker that cannot reach a target skips lanes ending in ``/<environment>``; the
    delivery lanes end in no environment, whatever the environments are named."""
    with transaction(database) as session:
        deployment_id = _deployment(session, environment="outbox")
        create_subscription(session, url="https://x.example.com/", events=["deployment.failed"])
        deployment = session.get_one(models.Deployment, deployment_id)
        set_deployment_status(session, deployment, DeploymentStatus.failed)
    job = claim(database, "w", 30, skip_environments=["outbox", "1", "webhooks"])
    assert job is not None and job.kind is JobKind.deliver
