"""The GCP program under Pulumi's mocks: each resource's inputs (camelCase, as Pulumi
passes them), for several templates and environments resolved with the real ``resolve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.catalog import CatalogError, DesiredState
from shipyard.targets.base import Release
from shipyard.targets.gcp import UnsupportedComponentError, gcp_plan, gcp_program
from shipyard.targets.render import RenderedResource, render, render_program

Resolver = Callable[..., DesiredState]  # the `desired` fixture (conftest.py)
SLUG = {"github.com/project-slug": "acme/orders-api"}
DIGEST = "sha256:" + "cd" * 32


def by_name(resources: list[RenderedResource]) -> dict[str, dict[str, Any]]:
    return {r.name: {"type": r.type, **r.inputs} for r in resources}


def rendered(desired: Resolver, env: str, annotations: dict[str, str], **kw: Any) -> dict[str, Any]:
    state = desired("orders-api", env, annotations, **kw)
    image = "europe-west1-docker.pkg.dev/acme-prod/orders-api-prod/orders-api:v1.2.3"
    program = gcp_program(gcp_plan(state, Release("v1.2.3", image, DIGEST)))
    return by_name(render_program(program, project="orders-api", stack=env))


def test_web_service_in_prod(desired: Resolver) -> None:
    r = rendered(desired, "prod", SLUG)
    registry = r["registry"]
    assert registry["type"] == "gcp:artifactregistry/repository:Repository"
    assert (registry["format"], registry["location"]) == ("DOCKER", "europe-west1")
    assert registry["project"] == "acme-prod"
    keep = registry["cleanupPolicies"][0]
    assert keep == {"action": "KEEP", "id": "keep-last-30", "mostRecentVersions": {"keepCount": 30}}

    trigger = r["trigger"]
    assert trigger["type"] == "gcp:cloudbuild/trigger:Trigger"
    assert trigger["location"] == "europe-west1"
    assert trigger["github"] == {
        "name": "orders-api",
        "owner": "acme",
        "push": {"tag": r"^v\d+\.\d+\.\d+$"},
    }
    assert "repositoryEventConfig" not in trigger and "filename" not in trigger
    image = "europe-west1-docker.pkg.dev/acme-prod/orders-api-prod/orders-api:$TAG_NAME"
    assert trigger["build"]["images"] == [image]
    assert [s["args"][0] for s in trigger["build"]["steps"][:2]] == ["build", "push"]
    assert trigger["build"]["options"] == {"logging": "CLOUD_LOGGING_ONLY"}
    assert trigger["serviceAccount"].endswith(
        "orders-api-prod-build@acme-prod.iam.gserviceaccount.com"
    )

    service = r["service"]
    assert service["type"] == "gcp:cloudrunv2/service:Service"
    assert (service["project"], service["location"]) == ("acme-prod", "europe-west1")
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert service["deletionProtection"] is True
    template = service["template"]
    assert template["scaling"] == {"maxInstanceCount": 3, "minInstanceCount": 1}
    assert template["serviceAccount"] == "orders-api-prod-run@acme-prod.iam.gserviceaccount.com"
    (container,) = template["containers"]
    assert (
        container["image"]
        == f"europe-west1-docker.pkg.dev/acme-prod/orders-api-prod/orders-api@{DIGEST}"
    )
    assert container["ports"] == {"containerPort": 8080}
    assert container["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}}


def test_build_account_has_exactly_the_least_privilege_roles(desired: Resolver) -> None:
    r = rendered(desired, "prod", SLUG)
    member = "serviceAccount:orders-api-prod-build@acme-prod.iam.gserviceaccount.com"
    grants = {
        (v["type"].rsplit(":", 1)[1], v["role"]) for v in r.values() if v.get("member") == member
    }
    assert grants == {
        ("RepositoryIamMember", "roles/artifactregistry.writer"),
        ("ServiceIamMember", "roles/run.developer"),
        ("IAMMember", "roles/iam.serviceAccountUser"),
        ("IAMMember", "roles/logging.logWriter"),
    }
    assert r["build-acts-as-runtime"]["serviceAccountId"] == (
        "projects/acme-prod/serviceAccounts/orders-api-prod-run@acme-prod.iam.gserviceaccount.com"
    )
    assert r["build-registry-writer"]["repository"] == "orders-api-prod"
    assert r["build-run-developer"]["name"] == "orders-api-prod"


def test_no_public_invoker_unless_public(desired: Resolver) -> None:
    r = rendered(desired, "staging", SLUG)
    assert not [v for v in r.values() if v.get("member") == "allUsers"]
    assert r["service"]["deletionProtection"] is False
    assert r["registry"]["cleanupPolicies"][0]["mostRecentVersions"] == {"keepCount": 10}
    assert r["registry"]["location"] == "europe-west4"


def test_public_site_template(desired: Resolver) -> None:
    annotations = {**SLUG, "shipyard.dev/template": "public-site"}
    r = rendered(desired, "staging", annotations)
    invoker = r["public-invoker"]
    assert invoker["type"] == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
    assert (invoker["role"], invoker["member"]) == ("roles/run.invoker", "allUsers")
    assert r["trigger"]["github"]["push"]["tag"] == r"^release-\d+$"
    container = r["service"]["template"]["containers"][0]
    assert container["ports"] == {"containerPort": 3000}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert r["service"]["template"]["scaling"]["maxInstanceCount"] == 5


def test_internal_worker_uses_a_2nd_gen_connection_and_the_repo_cloudbuild(
    desired: Resolver,
) -> None:
    annotations = {
        "shipyard.dev/template": "internal-worker",
        "shipyard.dev/source": "https://gitlab.example.com/acme/worker.git",
    }
    r = rendered(desired, "staging", annotations)
    source = r["source"]
    assert source["type"] == "gcp:cloudbuildv2/repository:Repository"
    assert source["parentConnection"] == (
        "projects/acme-staging/locations/europe-west4/connections/acme-gitlab"
    )
    assert source["remoteUri"] == "https://gitlab.example.com/acme/worker.git"
    trigger = r["trigger"]
    assert "github" not in trigger and "build" not in trigger
    assert trigger["filename"] == "deploy/cloudbuild.yaml"
    assert trigger["repositoryEventConfig"] == {
        "push": {"tag": r"^v\d+\.\d+\.\d+$"},
        "repository": "source-id",
    }
    assert r["service"]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_score_workload_variables_and_ports(desired: Resolver) -> None:
    score = """apiVersion: score.dev/v1b1
metadata: {name: orders-api}
containers:
  api:
    image: .
    variables: {LOG_LEVEL: debug, REGION: eu}
service:
  ports:
    web: {port: 80, targetPort: 5000}
"""
    r = rendered(desired, "staging", SLUG, score=score)
    (container,) = r["service"]["template"]["containers"]
    assert container["name"] == "api"
    assert container["envs"] == [
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "REGION", "value": "eu"},
    ]
    assert container["ports"] == {"containerPort": 5000}


def test_without_a_release_there_is_no_service(desired: Resolver) -> None:
    state = desired("orders-api", "staging", SLUG)
    names = {
        r.name for r in render_program(gcp_program(gcp_plan(state, None)), project="o", stack="s")
    }
    assert names == {
        "registry",
        "build-account",
        "run-account",
        "build-registry-writer",
        "build-acts-as-runtime",
        "build-log-writer",
        "trigger",
    }


def test_policy_violations_stop_before_any_pulumi_run(
    desired: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pulumi(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Pulumi ran")

    monkeypatch.setattr("shipyard.targets.render.render_program", no_pulumi)
    with pytest.raises(CatalogError) as caught:
        desired("orders-api", "prod", {**SLUG, "shipyard.dev/min-instances": "0"})
    assert "min-instances" in str(caught.value) and "catalog-info.yaml" in str(caught.value)
    not_github = {"shipyard.dev/source": "https://gitlab.example.com/acme/x.git"}
    with pytest.raises(UnsupportedComponentError, match="gcp-connection"):
        render(desired("orders-api", "staging", not_github))
