"""A ``shipyard worker`` SIGKILLed mid-deploy: once the lease expired another worker takes
its job back and the deployment ends ``failed`` with the reason; the next deploy of the
stack takes the stack over (the engine's recovery), succeeds, and one container runs.

The API runs without workers of its own; the workers are ``shipyard worker`` processes
with a short lease and the service handlers (the CLI registers them). The v2 image serves
only a few seconds after it starts, so the kill lands while the engine is starting the
new revision: the Pulumi CLI and its provider are killed with the worker and its job
process, leaving a locked stack with pending operations behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plane_world import ControlPlane, open_control_plane

from shipyard.engine import _procfs
from shipyard.jobs import JobState, get_job
from shipyard.store import transaction
from shipyard.store.events import list_events
from shipyard.store.models import Event, Job
from shipyard.targets.local import detect_container_engine
from shipyard.targets.local.instance import instance_id
from shipyard.targets.local.revisions import service_labels
from shipyard.testing.api import settings_environment

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
StartWorker = Callable[[str], subprocess.Popen[bytes]]

SHIPYARD = Path(sys.executable).with_name("shipyard")
LEASE_SECONDS = 5
_FINISHED = {"succeeded", "failed", "cancelled", "unchanged"}

SLOW_START_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["sh", "-c", "/bin/busybox sleep 3; exec /bin/busybox httpd -f -p 8080 -h /www"]
"""
"""Serves like the plane's image, but only 3 s after it starts: the window in which the
deploy is "starting the new revision"."""


@contextlib.contextmanager
def _worker_processes(plane: ControlPlane, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts ``shipyard worker`` processes on the plane's database and settings; at the
    end stops them (SIGTERM, then SIGKILL) and kills whatever they left running."""
    started: list[subprocess.Popen[bytes]] = []
    settings = plane.settings
    env = settings_environment(settings) | {"SHIPYARD_LOG_FORMAT": "json"}

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    str(SHIPYARD),
                    "worker",
                    "--lease-seconds",
                    str(LEASE_SECONDS),
                    "--poll-interval",
                    "0.1",
                    "--shutdown-grace",
                    "10",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a group of its own: the test kills it whole
            )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _kill_family(process.pid)
                process.wait(timeout=30)
        _kill_strays(tmp_path)


def _kill_family(pid: int) -> list[_procfs.ProcessId]:
    """SIGKILL ``pid``, its process group and every process below it (the fork server,
    the job process, the Pulumi CLI and its provider, each in a session of its own),
    all found before any dies so that none is orphaned unseen; the processes killed."""
    root = _procfs.identify(pid)
    family = [*([root] if root is not None else []), *_procfs.descendants(pid)]
    for process in family:
        _procfs.kill_group(process)
    return family


def _kill_strays(root: Path) -> None:
    """Pulumi processes working under ``root`` that outlived their worker (a provider)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ProcessLookupError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"pulumi" in cmdline and (entry / "cwd").readlink().is_relative_to(root):
                os.kill(int(entry.name), signal.SIGKILL)


def _job(plane: ControlPlane, job_id: int) -> Job:
    with transaction(plane.api.database, read_only=True) as session:
        job = get_job(session, job_id)
        session.expunge(job)
        return job


def _events(plane: ControlPlane, job_id: int) -> list[Event]:
    with transaction(plane.api.database, read_only=True) as session:
        events = list(list_events(session, job_id))
        session.expunge_all()
        return events


def _deployment(plane: ControlPlane, deployment_id: int) -> dict[str, Any]:
    body: dict[str, Any] = plane.api.client.get(f"/api/v1/deployments/{deployment_id}").json()
    return body


def _deploy(plane: ControlPlane, tag: str, *, force: bool = False) -> dict[str, Any]:
    response = plane.api.client.post(
        f"/api/v1/components/default/{plane.name}/deployments",
        json={"environment": "dev", "tag": tag, "force": force},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _finished(
    plane: ControlPlane, deployment: dict[str, Any], wait_for: WaitFor, timeout: float = 240
) -> dict[str, Any]:
    wait_for(
        lambda: _deployment(plane, deployment["id"])["status"] in _FINISHED,
        f"deployment {deployment['id']} ({deployment['tag']}) to finish",
        timeout,
    )
    return _deployment(plane, deployment["id"])


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    """The API with no workers of its own (the test runs them as processes)."""
    with open_control_plane(tmp_path, workers=0) as plane:
        yield plane


@pytest.mark.timeout(900)
def test_a_worker_sigkilled_mid_deploy_is_recovered_after_its_lease_and_deploys_go_on(
    plane: ControlPlane, tmp_path: Path, wait_for: WaitFor
) -> None:
    containers = detect_container_engine(plane.settings)
    service = service_labels(f"default/{plane.name}", "dev", instance_id(plane.settings.data_dir))
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text

    with _worker_processes(plane, tmp_path) as start_worker:
        doomed = start_worker("doomed")
        plane.release("v1")
        v1 = _finished(plane, _deploy(plane, "v1"), wait_for)
        assert v1["status"] == "succeeded", v1["error"]
        url = v1["url"]
        assert plane.answer(url) == "v1"

        (plane.repo / "Dockerfile").write_text(SLOW_START_DOCKERFILE)
        plane.release("v2")
        v2 = _deploy(plane, "v2")
        job_id = v2["job"]
        assert isinstance(job_id, int)

        def engine_starting_revision_2() -> bool:
            kinds = [event.kind for event in _events(plane, job_id)]
            return (
                any(kind.startswith("engine.") for kind in kinds)
                and len(containers.list_containers(service)) >= 2
            ) or _job(plane, job_id).state.finished

        wait_for(engine_starting_revision_2, "the engine to start revision 2", timeout=240)
        assert _job(plane, job_id).state is JobState.running, "the job ended before the kill"
        killed = _kill_family(doomed.pid)
        assert doomed.wait(timeout=30) == -signal.SIGKILL
        assert len(killed) >= 4, killed  # the worker, its fork server, the job, Pulumi...
        wait_for(
            lambda: not any(_procfs.alive(process) for process in killed),
            "every process of the killed worker to be gone",
        )
        # Nobody reported anything: the job still holds the dead worker's lease, the
        # deployment still says running, and traffic stays on v1.
        assert _job(plane, job_id).state is JobState.running
        assert _deployment(plane, v2["id"])["status"] == "running"
        assert plane.answer(url) == "v1"

        rescuer = start_worker("rescuer")
        interrupted = _finished(plane, v2, wait_for)

        # The interrupted deployment failed, saying why; nothing ran it again.
        dead_worker = f"{_host()}:{doomed.pid}:0"
        assert interrupted["status"] == "failed"
        reason = f"interrupted: worker {dead_worker} stopped renewing its lease at "
        assert interrupted["error"].startswith(reason), interrupted["error"]
        assert plane.answer(url) == "v1"
        job = _job(plane, job_id)
        assert (job.state, job.attempts, job.worker_id) == (JobState.failed, 1, dead_worker)
        events = _events(plane, job_id)
        kinds = [event.kind for event in events]
        (expired,) = [event for event in events if event.kind == "lease_expired"]
        assert expired.data is not None and expired.data["worker_id"] == dead_worker
        assert f"worker {dead_worker} stopped renewing its lease" in expired.message
        assert kinds[-2:] == ["lease_expired", "failed"], kinds
        assert kinds.count("process_started") == 1
        assert "process_died" not in kinds

        # The stack's next deploy takes the stack over and succeeds: one container.
        retried = _finished(plane, _deploy(plane, "v2"), wait_for)
        assert retried["status"] == "succeeded", retried["error"]
        assert retried["url"] == url
        assert plane.answer(url) == "v2"
        (running,) = containers.list_containers(service)
        assert running.running
        following = _job(plane, retried["job"])
        assert following.state is JobState.succeeded, following.error
        assert (following.attempts, following.worker_id) == (1, f"{_host()}:{rescuer.pid}:0")
        events = _events(plane, following.id)
        kinds = [event.kind for event in events]
        assert kinds[:3] == ["started", "recovery", "process_started"], kinds
        assert events[0].data is not None and events[0].data["recovery"] is True
        assert "engine.recovery" in kinds, kinds
        assert kinds[-1] == "succeeded"

        again = _finished(plane, _deploy(plane, "v1", force=True), wait_for)
        assert again["status"] == "succeeded", again["error"]
        assert plane.answer(again["url"]) == "v1"
        (running,) = containers.list_containers(service)
        assert running.running
        assert rescuer.poll() is None


def _host() -> str:
    import socket

    return socket.gethostname()
