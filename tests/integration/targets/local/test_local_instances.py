"""Two Shipyards on one machine: two data dirs (two instance ids) deploy a component of the
same name at the same tag on the same container engine, their routes in the same Caddy.
Destroying one, images included, leaves the other's container, image and route running
and answering."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flow_world import component_state, flow_settings, write_component

from conftest import Repo, git
from shipyard.targets.local import CliContainerEngine, ContainerSpec, shipyard_labels
from shipyard.targets.local.errors import ContainerNotFoundError
from shipyard.targets.local.flow import LocalTarget
from shipyard.targets.local.instance import instance_id
from shipyard.targets.local.labels import COMPONENT, ENVIRONMENT, INSTANCE
from shipyard.targets.local.proxy import Proxy
from shipyard.targets.local.revisions import remove_service

pytestmark = pytest.mark.integration


@pytest.fixture
def caddy(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Proxy]:
    """One Caddy both Shipyards load their routes into (the hardest case: with their own
    Caddy each, as by default, they share nothing there at all)."""
    with Proxy(tmp_path / "caddy" / "local", admin_address=f"127.0.0.1:{free_port()}") as proxy:
        yield proxy


def _repo(path: Path, answer: str) -> Repo:
    """A repository whose tag v1 serves ``answer`` at /version."""
    repo = Repo(path)
    (repo.path / "www" / "version").write_text(answer)
    git(repo.path, "add", "--all")
    git(repo.path, "commit", "--quiet", "--message", answer)
    git(repo.path, "tag", "v1")
    return repo


def _answer(url: str) -> str:
    response = httpx.get(f"{url}/version", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return response.text


def test_destroying_one_instance_leaves_the_other_running(
    tmp_path: Path,
    caddy: Proxy,
    containers: CliContainerEngine,
    test_run_labels: dict[str, str],
) -> None:
    name = f"greeter-{uuid.uuid4().hex[:8]}"  # the same component in both
    component = f"default/{name}"
    targets = {}
    for who in ("one", "two"):
        root = tmp_path / who
        repo = _repo(root / "repo", f"served by {who}")
        write_component(root / "catalog", name, repo.path)
        settings = flow_settings(root, caddy.admin_url)
        target = LocalTarget.from_settings(
            settings, containers=containers, labels=test_run_labels, health_timeout_s=30.0
        )
        targets[who] = (target.open(), component_state(root / "catalog"))
    (one, one_desired), (two, two_desired) = targets["one"], targets["two"]
    try:
        assert one.instance == instance_id(tmp_path / "one" / "data") != two.instance

        first = one.deploy(one_desired, "v1")
        second = two.deploy(two_desired, "v1")

        assert first.url != second.url
        assert (_answer(first.url), _answer(second.url)) == ("served by one", "served by two")
        assert first.release is not None and second.release is not None
        assert first.release.image != second.release.image
        assert first.release.digest != second.release.digest
        two_containers = containers.list_containers({COMPONENT: component, INSTANCE: two.instance})
        assert [c.running for c in two_containers] == [True]
        assert len(containers.list_containers({COMPONENT: component})) == 2

        one.destroy(one_desired, remove_images=True)

        assert containers.list_containers({COMPONENT: component, INSTANCE: one.instance}) == []
        assert containers.list_images({COMPONENT: component, INSTANCE: one.instance}) == []
        assert containers.list_containers({COMPONENT: component}) == two_containers
        assert two.release_of(two_desired, "v1") == second.release
        assert containers.inspect_image(second.release.image).labels[INSTANCE] == two.instance
        assert _answer(second.url) == "served by two"
        with pytest.raises(httpx.TransportError):
            httpx.get(first.url, timeout=2.0, trust_env=False)
        # the other instance deploys on as it left off: its image found, its revision kept
        again = two.deploy(two_desired, "v1")
        assert (again.revision, again.release) == (second.revision, second.release)
        assert _answer(again.url) == "served by two"
        assert one.release_of(one_desired, "v1") is None

        two.destroy(two_desired, remove_images=True)
        assert containers.list_containers({COMPONENT: component}) == []
        assert containers.list_images({COMPONENT: component}, include_untagged=True) == []
    finally:
        for target, _ in targets.values():
            target.close()
        for container in containers.list_containers({COMPONENT: component}):
            containers.remove(container.id)


def test_the_recorded_container_goes_if_it_predates_instance_ids_never_if_anothers(
    tmp_path: Path,
    containers: CliContainerEngine,
    served_image: str,
    container_name: Callable[[str], str],
    test_run_labels: dict[str, str],
) -> None:
    """An upgraded Shipyard's stack records a revision made before instance ids (no
    ``shipyard.dev/instance``): retiring it is how the upgrade moves on. A recorded name
    that turns out to be another Shipyard's container is left alone."""
    component = f"default/legacy-{uuid.uuid4().hex[:8]}"
    legacy = containers.run(
        ContainerSpec(
            name=container_name("legacy"),
            image=served_image,
            labels={**test_run_labels, COMPONENT: component, ENVIRONMENT: "dev"},
        )
    )
    theirs = containers.run(
        ContainerSpec(
            name=container_name("theirs"),
            image=served_image,
            labels={
                **test_run_labels,
                **shipyard_labels(component, instance="someoneelse", environment="dev"),
            },
        )
    )
    proxy = Proxy(tmp_path / "data" / "local", instance="mine")

    remove_service(
        containers, proxy, component, "dev", instance="mine", recorded_container=theirs.name
    )
    assert containers.inspect(theirs.name).running
    assert containers.inspect(legacy.name).running  # no label of this Shipyard: not swept

    remove_service(
        containers, proxy, component, "dev", instance="mine", recorded_container=legacy.name
    )
    with pytest.raises(ContainerNotFoundError):
        containers.inspect(legacy.name)
    assert containers.inspect(theirs.name).running
    containers.remove(theirs.name)
