"""``shipyard render`` through the installed console script: JSON out, located errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SHIPYARD = Path(sys.executable).with_name("shipyard")
SLUG = {"github.com/project-slug": "acme/orders-api"}

pytestmark = pytest.mark.integration  # starts the CLI in a new interpreter (~3 s each)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHIPYARD), "render", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_render_json_for_a_gcp_environment(
    write_component: Callable[..., tuple[Path, Path]],
) -> None:
    catalog, platform = write_component("orders-api", SLUG)
    done = run(catalog, "--env", "prod", "--platform", platform, "--tag", "v2.0.0", "-o", "json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert list(payload) == ["resources"]
    types = {r["name"]: r["type"] for r in payload["resources"]}
    assert types["service"] == "gcp:cloudrunv2/service:Service"
    assert all(set(r) == {"type", "name", "inputs"} for r in payload["resources"])
    service = next(r for r in payload["resources"] if r["name"] == "service")
    assert service["inputs"]["template"]["scaling"]["minInstanceCount"] == 1
    # a deploy pins the build's digest, never the tag: render says so
    assert service["inputs"]["template"]["containers"][0]["image"] == (
        "europe-west4-docker.pkg.dev/acme-staging/orders-api-0bb9/orders-api"
        "@sha256:<digest of the v2.0.0 build>"
    )
    assert types["trigger"] == "gcp:cloudbuild/trigger:Trigger"  # the build stack, too
    assert {"registry", "build-account", "run-account", "source"} <= set(types)


def test_render_json_for_a_local_environment(
    write_component: Callable[..., tuple[Path, Path]],
) -> None:
    catalog, platform = write_component("orders-api", SLUG)
    done = run(catalog, "--env", "dev", "--platform", platform, "-o", "json")
    assert done.returncode == 0, done.stderr
    types = [r["type"] for r in json.loads(done.stdout)["resources"]]
    assert types == [
        "pulumi-python:dynamic/shipyard-local:ImageRepository",
        "pulumi-python:dynamic/shipyard-local:Route",
        "pulumi-python:dynamic/shipyard-local:Service",
    ]


def test_a_contract_violation_exits_1_with_the_located_problem(
    write_component: Callable[..., tuple[Path, Path]],
) -> None:
    catalog, platform = write_component(
        "orders-api", {**SLUG, "shipyard.dev/prod.min-instances": "0"}
    )
    done = run(catalog, "--env", "prod", "--platform", platform, "-o", "json")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "catalog-info.yaml:7" in done.stderr and "min-instances" in done.stderr
