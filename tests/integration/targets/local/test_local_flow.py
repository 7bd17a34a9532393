"""The local target end to end: a catalog component resolved for ``dev``, its git tags
built by the tag watcher, deployed by the real Pulumi engine as revision containers behind
a real Caddy, answering over real HTTP; switched with no failed request, rolled back,
destroyed without leftovers, and recovered after a SIGKILL mid-deploy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flow_world import (
    SLOW_START_DOCKERFILE,
    component_state,
    flow_settings,
    settings_to_json,
    write_component,
)
from request_loop import RequestLoop, require_zero_drop_switches

from shipyard.catalog import DesiredState
from shipyard.engine import StackNotFoundError, StackRef
from shipyard.settings import Settings
from shipyard.targets.local import CliContainerEngine, ContainerInfo
from shipyard.targets.local.containers import ImageInfo
from shipyard.targets.local.flow import LocalTarget
from shipyard.targets.local.labels import COMPONENT, REVISION
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.revisions import service_labels

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
DEPLOY_CHILD = Path(__file__).with_name("deploy_child.py")


@dataclass
class World:
    target: LocalTarget
    desired: DesiredState
    settings: Settings
    repo: Any  # conftest's Repo: .release(tag), .path
    catalog: Path

    def running(self) -> list[ContainerInfo]:
        labels = service_labels(
            self.desired.component, self.desired.environment, self.target.instance
        )
        return [c for c in self.target.containers.list_containers(labels) if c.running]

    def answer(self, url: str) -> str:
        response = httpx.get(f"{url}/version", timeout=5.0, trust_env=False)
        response.raise_for_status()
        return response.text


@pytest.fixture
def caddy(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Proxy]:
    """The test's own Caddy (a free admin port); the target reaches it as configured."""
    with Proxy(tmp_path / "data" / "local", admin_address=f"127.0.0.1:{free_port()}") as proxy:
        yield proxy


def _make_world(
    tmp_path: Path,
    caddy: Proxy,
    repo: Any,
    containers: CliContainerEngine,
    labels: dict[str, str],
) -> World:
    name = f"greeter-{uuid.uuid4().hex[:8]}"
    catalog = tmp_path / "catalog"
    write_component(catalog, name, repo.path)
    settings = flow_settings(tmp_path, caddy.admin_url)
    target = LocalTarget.from_settings(
        settings, containers=containers, labels=labels, health_timeout_s=30.0
    )
    return World(target, component_state(catalog), settings, repo, catalog)


@pytest.fixture
def make_world(
    tmp_path: Path,
    caddy: Proxy,
    make_repo: Callable[..., Any],
    containers: CliContainerEngine,
    test_run_labels: dict[str, str],
) -> Iterator[Callable[..., World]]:
    worlds: list[World] = []

    def make(dockerfile: str | None = None) -> World:
        repo = make_repo(dockerfile) if dockerfile else make_repo()
        world = _make_world(tmp_path, caddy, repo, containers, test_run_labels)
        worlds.append(world)
        world.target.open()
        return world

    yield make
    for world in worlds:
        for container in containers.list_containers({COMPONENT: world.desired.component}):
            containers.remove(container.id)
        world.target.close()
    _kill_stray_providers(tmp_path)


def test_provision_deploy_switch_rollback_destroy(
    make_world: Callable[..., World],
    containers: CliContainerEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = make_world()
    target, desired = world.target, world.desired

    provisioned = target.provision(desired)
    url = provisioned.url
    assert provisioned.revision == 0
    assert httpx.get(url, timeout=5.0, trust_env=False).status_code == 503
    assert world.running() == []

    world.repo.release("v1")
    watcher = target.tag_watcher([desired])
    assert [e.tag for e in watcher.poll_once()] == ["v1"]
    assert world.answer(url) == "v1"
    [first] = world.running()
    assert first.labels[REVISION] == "1"

    world.repo.release("nightly")
    world.repo.release("v2")
    require_zero_drop_switches()
    with RequestLoop(f"{url}/version") as loop:
        loop.wait_for("v1")
        switched_at = len(loop.answers)
        assert [e.tag for e in watcher.poll_once()] == ["v2"]  # "nightly" does not match
        loop.wait_for("v2", after=switched_at)
    assert loop.failures == []
    assert target.release_of(desired, "nightly") is None
    # A job starts the lookup first thing; release_of then takes its answer, once.
    inspected: list[str] = []
    inspect_image = CliContainerEngine.inspect_image

    def counted(self: CliContainerEngine, reference: str) -> ImageInfo:
        inspected.append(reference)
        return inspect_image(self, reference)

    monkeypatch.setattr(CliContainerEngine, "inspect_image", counted)
    target.prefetch_release(desired.component, "nightly")
    target.prefetch_release(desired.component, "v2")
    assert target.release_of(desired, "nightly") is None
    prefetched = target.release_of(desired, "v2")
    assert len(inspected) == 2
    assert prefetched == target.release_of(desired, "v2")  # a lookup of its own: the same
    assert len(inspected) == 3
    monkeypatch.undo()
    [second] = world.running()
    assert second.labels[REVISION] == "2"
    assert world.answer(url) == "v2"

    rolled_back = target.rollback(desired, "v1")
    assert rolled_back.url == url
    assert rolled_back.revision == 3
    assert world.answer(url) == "v1"
    assert [c.labels[REVISION] for c in world.running()] == ["3"]
    outputs = target.engine.outputs(rolled_back.stack)
    assert outputs["tag"].value == "v1"
    assert outputs["image_digest"].value == target.release_of(desired, "v1").digest

    target.destroy(desired, remove_images=True)
    assert containers.list_containers({COMPONENT: desired.component}) == []
    assert containers.list_images({COMPONENT: desired.component}, include_untagged=True) == []
    assert target.proxy.routes() == []
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2.0, trust_env=False)
    _assert_no_stack(world.settings, rolled_back.stack)
    with pytest.raises(StackNotFoundError):
        target.engine.outputs(rolled_back.stack)


def _assert_no_stack(settings: Settings, ref: StackRef) -> None:
    """No checkpoint left in the file backend (Pulumi keeps its ``.bak`` copies there)."""
    stacks = settings.data_dir / "state" / ".pulumi" / "stacks" / ref.project
    left = [p.name for p in stacks.glob(f"{ref.stack}.json*")] if stacks.exists() else []
    assert [name for name in left if ".bak" not in name] == []


def test_a_tag_not_matching_the_pattern_is_ignored(
    make_world: Callable[..., World], containers: CliContainerEngine
) -> None:
    world = make_world()
    world.repo.release("nightly")
    world.repo.release("v1.0-rc1")

    assert world.target.tag_watcher([world.desired]).poll_once() == []
    assert containers.list_images({COMPONENT: world.desired.component}) == []
    assert world.running() == []


def test_a_deploy_killed_mid_switch_is_recovered_with_one_running_revision(
    make_world: Callable[..., World],
    containers: CliContainerEngine,
    test_run_labels: dict[str, str],
    wait_for: WaitFor,
) -> None:
    world = make_world(SLOW_START_DOCKERFILE)
    target, desired = world.target, world.desired
    world.repo.release("v1")
    url = target.deploy(desired, "v1").url
    assert world.answer(url) == "v1"
    world.repo.release("v2")
    target.run_trigger(desired, "v2")  # built here: the child goes straight to its `up`

    child = subprocess.Popen(
        [
            sys.executable,
            str(DEPLOY_CHILD),
            settings_to_json(world.settings),
            str(world.catalog),
            "v2",
            json.dumps(test_run_labels),
        ],
        start_new_session=True,
    )
    service = service_labels(desired.component, desired.environment, target.instance)
    starting = {**service, REVISION: "2"}
    try:
        wait_for(
            lambda: bool(containers.list_containers(starting)) or child.poll() is not None,
            "the child's provider to start revision 2",
            timeout=120,
        )
        assert child.poll() is None, "the child's deploy ended before the crash"
        _kill_tree(child.pid)  # a crash: the worker, its CLI and the provider, at once
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=30)
    assert world.answer(url) == "v1", "traffic stays on revision 1 until 2 is healthy"

    recovered = target.deploy(desired, "v2")

    assert recovered.operation.recovered, "the engine repaired the interrupted update"
    assert recovered.url == url
    assert world.answer(url) == "v2"
    running = world.running()
    assert [c.labels[REVISION] for c in running] == [str(recovered.revision)]
    assert containers.list_containers(service) == running


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant, found before any dies (so none is orphaned
    to init unseen); the provider runs in a process group of its own."""
    family, todo = [], [pid]
    while todo:
        current = todo.pop()
        family.append(current)
        todo.extend(_children(current))
    for member in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def _kill_stray_providers(root: Path) -> None:
    """Provider processes (``pulumi.dynamic``) working under ``root`` outlive a crash."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ProcessLookupError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if b"pulumi.dynamic" in cmdline and (entry / "cwd").readlink().is_relative_to(root):
                os.kill(int(entry.name), signal.SIGKILL)
