"""A resolved desired state -> the service spec the local program runs (no tools run)."""

from __future__ import annotations

import base64
import re

import pytest

from shipyard.catalog import Component, resolve
from shipyard.catalog.backstage import read_descriptor_text
from shipyard.catalog.platform import parse_platform_text
from shipyard.catalog.score import parse_workload_text
from shipyard.targets.local.service_spec import (
    DEFAULT_FILE_MODE,
    MountedFile,
    ServiceSpec,
    UnsupportedWorkloadError,
    container_name,
    service_spec,
)

PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - {name: dev, target: local, autoDeploy: true}
templates:
  - {name: web, default: true, settings: {cpu: 500m, memory: 64Mi}}
"""

SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: greeter}
containers:
  main:
    image: .
    args: ["httpd", "-f"]
    variables: {GREETING: hello}
    readinessProbe: {httpGet: {path: /ready, port: 8080}}
service:
  ports:
    http: {port: 80, targetPort: 8080}
    admin: {port: 9090}
"""


def component() -> Component:
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: greeter\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: team\n"
    )
    (found,) = read_descriptor_text(text, "catalog-info.yaml", None).components
    return found


def spec(score: str = SCORE, image_id: str = "sha256:aa", instance: str = "a1b2c3") -> ServiceSpec:
    platform, _ = parse_platform_text(PLATFORM, "platform.yaml")
    workload, problems = parse_workload_text(score, "score.yaml")
    assert platform is not None and workload is not None, problems
    desired = resolve(component(), "dev", platform, workload=workload)
    return service_spec(
        desired,
        image_id=image_id,
        image="localhost/x:v1",
        digest="d",
        tag="v1",
        instance=instance,
    )


FILES = """    files:
      /etc/greeter/motd:
        content: "hello from ${metadata.name}"
        mode: "0644"
      /etc/greeter/key:
        binaryContent: AAEC
"""


def with_files(files: str = FILES) -> str:
    return SCORE.replace("    readinessProbe:", files + "    readinessProbe:")


def test_the_workload_becomes_the_container_spec() -> None:
    got = spec()
    assert (got.component, got.environment) == ("default/greeter", "dev")
    assert (got.port, got.other_ports) == (8080, (9090,))
    assert got.env == {"GREETING": "hello"}
    assert got.args == ("httpd", "-f")
    assert (got.cpus, got.memory, got.health_path) == (0.5, "64Mi", "/ready")
    assert (got.instance, got.files) == ("a1b2c3", ())
    assert ServiceSpec.from_inputs(got.inputs()) == got


def test_the_spec_hash_covers_what_runs_not_its_name() -> None:
    assert spec().spec_hash() == spec().spec_hash()
    assert spec().spec_hash() != spec(image_id="sha256:bb").spec_hash()
    assert spec().spec_hash() == spec(instance="ffff00").spec_hash()


def test_files_are_mounted_with_their_content_and_mode() -> None:
    got = spec(with_files())

    motd, key = got.files
    assert (motd.target, motd.content(), motd.mode) == (
        "/etc/greeter/motd",
        b"hello from greeter",
        0o644,
    )
    assert (key.target, key.content(), key.mode) == ("/etc/greeter/key", b"\x00\x01\x02", 0o600)
    assert DEFAULT_FILE_MODE == 0o600
    assert ServiceSpec.from_inputs(got.inputs()) == got


def test_a_changed_file_content_or_mode_changes_the_spec_hash() -> None:
    before = spec(with_files()).spec_hash()

    assert spec(with_files()).spec_hash() == before
    assert spec(with_files(FILES.replace("hello", "hi"))).spec_hash() != before
    assert spec(with_files(FILES.replace('"0644"', '"0640"'))).spec_hash() != before
    assert spec().spec_hash() != before


def test_files_the_local_target_cannot_mount_are_refused() -> None:
    waiting = (
        with_files('    files:\n      /etc/db:\n        content: "${resources.db.host}"\n')
        + "resources:\n  db:\n    type: postgres\n"
    )
    with pytest.raises(UnsupportedWorkloadError, match=r"/etc/db.*names workload resources"):
        spec(waiting)
    with pytest.raises(UnsupportedWorkloadError, match="was not read"):
        spec(with_files("    files:\n      /etc/x:\n        source: x.ini\n"))
    with pytest.raises(UnsupportedWorkloadError, match="comma"):
        spec(with_files("    files:\n      /etc/a,b:\n        content: x\n"))


def test_mounted_files_travel_as_base64() -> None:
    file = MountedFile("/x", base64.b64encode(b"\xff").decode(), 0o400)
    assert MountedFile.from_inputs(file.inputs()) == file
    assert file.content() == b"\xff"


def test_container_names_are_deterministic_engine_safe_and_per_instance() -> None:
    name = container_name("Team-A/Orders_API", "prod", 3, instance="a1b2c3d4e5")

    assert re.fullmatch(r"shipyard-a1b2c3d4e5-team-a-orders_api-prod-[0-9a-f]{6}-r3", name)
    assert name == container_name("Team-A/Orders_API", "prod", 3, instance="a1b2c3d4e5")
    assert name != container_name("Team-A/Orders_API", "prod", 3, instance="0000000000")
    # names that read the same once made engine-safe still differ
    assert container_name("a-b/c", "dev", 1, instance="i1") != container_name(
        "a/b-c", "dev", 1, instance="i1"
    )
    long = container_name("n/" + "x" * 63, "e" * 63, 12, instance="a1b2c3d4e5")
    assert len(long) <= 128 and re.fullmatch(r"[a-z0-9][a-z0-9_.-]+", long)


def test_a_spec_from_before_files_reads_back() -> None:
    inputs = spec().inputs()
    del inputs["files"]
    assert ServiceSpec.from_inputs(inputs) == spec()


def test_an_entrypoint_override_is_refused_with_a_way_out() -> None:
    score = SCORE.replace('args: ["httpd", "-f"]', 'command: ["/bin/sh"]')
    with pytest.raises(UnsupportedWorkloadError, match="ENTRYPOINT"):
        spec(score)
