"""A worker that cannot reach an environment's target leaves its jobs queued (claim time),
and the local target's container host reaches the docker/podman CLI."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shipyard.jobs import JobKind, JobState, claim, enqueue, get_job
from shipyard.jobs._reach import TargetReach, local_target_problem
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.environments import upsert_environment
from shipyard.targets.local.container_cli import CliContainerEngine
from shipyard.targets.local.runtime import RUNTIME_KEY, Runtime
from shipyard.testing.clock import FakeClock

LEASE = 30.0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _engine() -> str:
    found = shutil.which("podman") or shutil.which("docker")
    if found is None:
        pytest.skip("needs podman or docker")
    return found


def _enqueue(database: Engine, stack_key: str) -> int:
    with transaction(database) as session:
        return enqueue(session, JobKind.deploy, stack_key, {}, clock=FakeClock()).id


def test_a_claim_leaves_the_jobs_of_unreachable_environments_queued(database: Engine) -> None:
    local = _enqueue(database, "default/web/local_dev")
    cloud = _enqueue(database, "default/web/prod")
    # "local_dev" holds LIKE's wildcard: only that environment's lane is left.
    lookalike = _enqueue(database, "default/web/localXdev")

    first = claim(database, "w1", LEASE, skip_environments=("local_dev",))
    second = claim(database, "w1", LEASE, skip_environments=("local_dev",))
    third = claim(database, "w1", LEASE, skip_environments=("local_dev",))

    assert (first and first.id, second and second.id, third) == (cloud, lookalike, None)
    with transaction(database, read_only=True) as session:
        assert get_job(session, local).state is JobState.queued
    taken = claim(database, "w2", LEASE)  # a worker that reaches it
    assert taken is not None and taken.id == local


def test_the_container_host_reaches_the_engine_cli_and_the_providers() -> None:
    binary = _engine()
    kind = "podman" if "podman" in Path(binary).name else "docker"
    host = f"tcp://127.0.0.1:{_closed_port()}"

    problem = CliContainerEngine(Path(binary), kind, host=host).problem(timeout_s=20)

    assert problem is not None and host.removeprefix("tcp://") in problem
    runtime = Runtime(binary, "/srv/state", "http://127.0.0.1:2019", engine_host=host)
    assert Runtime.from_inputs({RUNTIME_KEY: runtime.inputs()}) == runtime
    assert runtime.containers().host == host
    # Without a container host the inputs are those of earlier versions: no stack's
    # resources see a changed input after an upgrade.
    plain = Runtime(binary, "/srv/state", "http://127.0.0.1:2019")
    assert "engine_host" not in plain.inputs()
    assert Runtime.from_inputs({RUNTIME_KEY: plain.inputs()}).engine_host is None


def test_a_worker_that_cannot_reach_the_container_host_skips_local_environments(
    database: Engine, tmp_path: Path
) -> None:
    binary = _engine()
    with transaction(database) as session:
        upsert_environment(session, "dev", target="local", position=0)
        upsert_environment(session, "prod", target="gcp", position=1)
    cut_off = Settings(
        data_dir=tmp_path,
        container_engine=binary,
        container_host=f"tcp://127.0.0.1:{_closed_port()}",
    )
    assert local_target_problem(cut_off) is not None
    now = [0.0]
    reach = TargetReach(cut_off, database, ttl_s=15.0, clock=lambda: now[0])

    assert reach.unreachable() == ("dev",)

    no_proxy = cut_off.model_copy(
        update={"container_host": None, "proxy_admin_url": f"http://127.0.0.1:{_closed_port()}"}
    )
    problem = local_target_problem(no_proxy)
    assert problem is not None and "admin API" in problem
    calls: list[Settings] = []

    def answers(settings: Settings) -> None:
        calls.append(settings)

    healed = TargetReach(cut_off, database, ttl_s=15.0, probe=answers, clock=lambda: now[0])
    assert healed.unreachable() == ()
    assert healed.unreachable() == ()
    assert len(calls) == 1  # kept for ttl_s
    now[0] = 16.0
    healed.unreachable()
    assert len(calls) == 2
