"""Image names, resource quantities, git source kinds, ls-remote and inspect parsing."""

from __future__ import annotations

import json
import re

import pytest

from shipyard.catalog.sources import SourceError
from shipyard.sources.git import _parse_ls_remote, is_local_source
from shipyard.targets.local._inspect import parse_containers, parse_images
from shipyard.targets.local.builds import image_reference, image_repository, is_loopback_registry
from shipyard.targets.local.resources import InvalidQuantityError, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("component", "tag", "registry", "expected"),
    [
        ("default/greeter", "v1.2.3", None, "localhost/default/greeter:v1.2.3"),
        (
            "Team-A/Orders_API",
            "release/2024",
            "127.0.0.1:5000",
            "127.0.0.1:5000/team-a/orders_api:release-2024",
        ),
        ("greeter", "v1", None, "localhost/default/greeter:v1"),
    ],
)
def test_image_reference(component: str, tag: str, registry: str | None, expected: str) -> None:
    assert image_reference(component, tag, registry) == expected


def test_an_instance_has_its_own_image_names() -> None:
    mine = image_reference("default/greeter", "v1.0.0", instance="a1b2c3d4e5")

    assert mine == "localhost/a1b2c3d4e5/default/greeter:v1.0.0"
    assert image_reference("default/greeter", "v1", "127.0.0.1:5000", instance="ff00") == (
        "127.0.0.1:5000/ff00/default/greeter:v1"
    )
    assert mine != image_reference("default/greeter", "v1.0.0", instance="0000000000")


@pytest.mark.parametrize("name", ["a..b", "a._b", "a___b", "a-.b", "x__-y"])
def test_names_backstage_takes_become_valid_and_distinct_image_names(name: str) -> None:
    repository = image_repository(f"default/{name}")
    part = repository.rsplit("/", 1)[1]

    # the distribution spec's path component
    assert re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*", part), part
    assert repository != image_repository("default/a-b")
    assert image_repository("default/a.b") == "localhost/default/a.b"
    assert image_repository("default/a__b") == "localhost/default/a__b"


def test_loopback_registries() -> None:
    assert is_loopback_registry("127.0.0.1:5000")
    assert is_loopback_registry("localhost:5000")
    assert not is_loopback_registry("registry.example.com")


def test_quantities() -> None:
    assert parse_memory("512Mi") == 512 * 2**20
    assert parse_memory("1G") == 10**9
    assert parse_memory("256m") == 256 * 2**20
    assert parse_cpu("500m") == 0.5
    assert parse_cpu("2") == 2.0
    with pytest.raises(InvalidQuantityError, match="512Mi"):
        parse_memory("lots")
    with pytest.raises(InvalidQuantityError, match="500m"):
        parse_cpu("0")


def test_local_and_remote_sources() -> None:
    assert is_local_source("/srv/greeter")
    assert not is_local_source("https://github.com/acme/greeter.git")
    assert not is_local_source("git@github.com:acme/greeter.git")
    with pytest.raises(SourceError, match="file://"):
        is_local_source("file:///srv/greeter")


def test_ls_remote_peels_annotated_tags() -> None:
    output = "a1\trefs/tags/v1\nb2\trefs/tags/v2\nc3\trefs/tags/v2^{}\nd4\trefs/heads/main\n"
    assert _parse_ls_remote(output) == {"v1": "a1", "v2": "c3"}


def test_inspect_of_docker_and_podman() -> None:
    container = {
        "Id": "abc",
        "Name": "/web",
        "Image": "sha256:img",
        "Config": {"Image": "localhost/x:1", "Labels": {"k": "v"}},
        "State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}},
        "NetworkSettings": {
            "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "9090/tcp": None}
        },
    }
    [info] = parse_containers(json.dumps([container]))
    assert (info.name, info.running, info.health, info.host_port(8080)) == (
        "web",
        True,
        "healthy",
        18080,
    )
    [image] = parse_images(json.dumps([{"Id": "f00", "RepoTags": ["x:1"], "Labels": {"a": "b"}}]))
    assert (image.id, image.labels, image.digest) == ("sha256:f00", {"a": "b"}, "sha256:f00")


def test_a_containers_image_id_reads_the_same_from_docker_and_podman() -> None:
    # docker says "sha256:<hex>", podman only "<hex>": both are one id, and the drift check
    # and the image sweep compare it with an image's id.
    docker = {"Id": "c1", "Name": "/a", "Image": "sha256:0123abcd"}
    podman = {"Id": "c2", "Name": "b", "Image": "0123abcd"}
    [image] = parse_images(json.dumps([{"Id": "0123abcd"}]))

    parsed = parse_containers(json.dumps([docker, podman]))

    assert [c.image_id for c in parsed] == [image.id, image.id] == ["sha256:0123abcd"] * 2
