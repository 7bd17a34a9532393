"""The GCP programs under Pulumi's mocks: each resource's inputs (camelCase, as Pulumi
passes them), for several templates and environments resolved with the real ``resolve``.

The platform (conftest.py): staging (acme-staging, europe-west4) is the first gcp
environment, so it is the build project; prod runs in acme-prod, europe-west1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.catalog import CatalogError, DesiredState
from shipyard.targets.base import Release
from shipyard.targets.gcp import UnsupportedComponentError, gcp_config, gcp_plan, gcp_program
from shipyard.targets.gcp.plan import manual_steps
from shipyard.targets.gcp.program import build_program
from shipyard.targets.render import RenderedResource, render, render_program

Resolver = Callable[..., DesiredState]  # the `desired` fixture (conftest.py)
SLUG = {"github.com/project-slug": "acme/orders-api"}
DIGEST = "sha256:" + "cd" * 32
REGISTRY = "europe-west4-docker.pkg.dev/acme-staging/orders-api-0bb9"
BUILD_ACCOUNT = "orders-api-0bb9-build@acme-staging.iam.gserviceaccount.com"
CLEANUP = [
    {"action": "KEEP", "id": "keep-last-30", "mostRecentVersions": {"keepCount": 30}},
    {"action": "KEEP", "condition": {"tagState": "TAGGED"}, "id": "keep-tagged"},
    {
        "action": "DELETE",
        "condition": {"olderThan": "604800s", "tagState": "UNTAGGED"},
        "id": "delete-untagged",
    },
]


def by_name(resources: list[RenderedResource]) -> dict[str, dict[str, Any]]:
    return {r.name: {"type": r.type, **r.inputs} for r in resources}


def rendered(desired: Resolver, env: str, annotations: dict[str, str], **kw: Any) -> dict[str, Any]:
    state = desired("orders-api", env, annotations, **kw)
    image = f"{gcp_config(state).registry_uri}/orders-api:v1.2.3"
    program = gcp_program(gcp_plan(state, Release("v1.2.3", image, DIGEST)))
    return by_name(render_program(program, project="orders-api", stack=env))


def built(desired: Resolver, env: str, annotations: dict[str, str], **kw: Any) -> dict[str, Any]:
    state = desired("orders-api", env, annotations, **kw)
    program = build_program(gcp_plan(state, None))
    return by_name(render_program(program, project="orders-api", stack="gcp-build"))


def test_build_once_resources_live_in_the_build_project(desired: Resolver) -> None:
    r = built(desired, "prod", SLUG)
    registry = r["registry"]
    assert registry["type"] == "gcp:artifactregistry/repository:Repository"
    assert (registry["project"], registry["location"]) == ("acme-staging", "europe-west4")
    assert (registry["repositoryId"], registry["format"]) == ("orders-api-0bb9", "DOCKER")
    assert registry["dockerConfig"] == {"immutableTags": True}
    assert registry["cleanupPolicies"] == CLEANUP  # prod's keep-versions: 30
    assert registry["cleanupPolicyDryRun"] is False

    trigger = r["trigger"]
    assert trigger["type"] == "gcp:cloudbuild/trigger:Trigger"
    assert (trigger["project"], trigger["location"]) == ("acme-staging", "europe-west4")
    assert trigger["name"] == "orders-api-0bb9-tags"
    assert trigger["serviceAccount"] == f"projects/acme-staging/serviceAccounts/{BUILD_ACCOUNT}"
    # the default: the 2nd-gen connection `github` of the build project
    assert "github" not in trigger
    assert trigger["repositoryEventConfig"] == {
        "push": {"tag": r"^v\d+\.\d+\.\d+$"},
        "repository": "source-id",
    }
    assert r["source"]["parentConnection"] == (
        "projects/acme-staging/locations/europe-west4/connections/github"
    )
    assert r["source"]["remoteUri"] == "https://github.com/acme/orders-api.git"
    assert trigger["substitutions"] == {
        "_SHIPYARD_IMAGE": f"{REGISTRY}/orders-api",
        "_SHIPYARD_REGION": "europe-west1",
    }
    assert trigger["build"]["images"] == [f"{REGISTRY}/orders-api:$TAG_NAME"]
    assert trigger["build"]["options"] == {"logging": "CLOUD_LOGGING_ONLY"}
    assert r["build-account"]["accountId"] == "orders-api-0bb9-build"
    assert r["build-account"]["project"] == "acme-staging"


def test_apis_are_enabled_and_never_disabled_on_destroy(desired: Resolver) -> None:
    def apis(resources: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (v["project"], v["service"])
            for v in resources.values()
            if v["type"] == "gcp:projects/service:Service"
            and v["disableOnDestroy"] is False
            and v["disableDependentServices"] is False
        }

    assert apis(built(desired, "prod", SLUG)) == {
        ("acme-staging", "cloudbuild.googleapis.com"),
        ("acme-staging", "artifactregistry.googleapis.com"),
        ("acme-staging", "iam.googleapis.com"),
        ("acme-staging", "logging.googleapis.com"),
    }
    assert apis(rendered(desired, "prod", SLUG)) == {
        ("acme-prod", "run.googleapis.com"),
        ("acme-prod", "iam.googleapis.com"),
    }


def test_the_service_pins_the_digest_and_sends_it_all_traffic(desired: Resolver) -> None:
    r = rendered(desired, "prod", SLUG)
    service = r["service"]
    assert service["type"] == "gcp:cloudrunv2/service:Service"
    assert (service["project"], service["location"]) == ("acme-prod", "europe-west1")
    assert service["name"] == "orders-api-prod-95dd"
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert service["deletionProtection"] is True
    assert service["traffics"] == [
        {"percent": 100, "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"}
    ]
    template = service["template"]
    assert template["scaling"] == {"maxInstanceCount": 3, "minInstanceCount": 1}
    assert (
        template["serviceAccount"] == "orders-api-prod-95dd-run@acme-prod.iam.gserviceaccount.com"
    )
    (container,) = template["containers"]
    assert container["image"] == f"{REGISTRY}/orders-api@{DIGEST}"
    assert container["ports"] == {"containerPort": 8080}
    assert container["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}}
    # prod's Cloud Run service agent reads the build project's repository
    reader = r["run-agent-registry-reader"]
    assert (reader["project"], reader["location"], reader["repository"]) == (
        "acme-staging",
        "europe-west4",
        "orders-api-0bb9",
    )
    assert reader["role"] == "roles/artifactregistry.reader"
    assert r["run-agent"]["service"] == "run.googleapis.com"
    assert r["run-agent"]["project"] == "acme-prod"


def test_the_build_account_has_least_privilege(desired: Resolver) -> None:
    member = f"serviceAccount:{BUILD_ACCOUNT}"
    resources = {**built(desired, "prod", SLUG), **rendered(desired, "prod", SLUG)}
    grants = {
        (v["type"].rsplit(":", 1)[1], v["role"], v.get("project"))
        for v in resources.values()
        if v.get("member") == member
    }
    assert grants == {
        ("RepositoryIamMember", "roles/artifactregistry.writer", "acme-staging"),
        ("IAMMember", "roles/logging.logWriter", "acme-staging"),
    }


def test_a_setting_lets_the_build_account_deploy(desired: Resolver) -> None:
    r = rendered(desired, "prod", {**SLUG, "shipyard.dev/gcp-build-deploys": "true"})
    member = f"serviceAccount:{BUILD_ACCOUNT}"
    assert r["build-run-developer"]["role"] == "roles/run.developer"
    assert r["build-run-developer"]["member"] == member
    assert r["build-acts-as-runtime"]["serviceAccountId"] == (
        "projects/acme-prod/serviceAccounts/orders-api-prod-95dd-run@acme-prod.iam.gserviceaccount.com"
    )
    assert r["build-acts-as-runtime"]["role"] == "roles/iam.serviceAccountUser"


def test_per_environment_builds_in_the_environment_with_its_name(desired: Resolver) -> None:
    r = rendered(desired, "prod", {**SLUG, "shipyard.dev/build": "per-environment"})
    trigger = r["trigger"]
    assert (trigger["project"], trigger["location"]) == ("acme-prod", "europe-west1")
    assert trigger["substitutions"] == {
        "_SHIPYARD_ENVIRONMENT": "prod",
        "_SHIPYARD_IMAGE": "europe-west1-docker.pkg.dev/acme-prod/orders-api-prod-95dd/orders-api",
        "_SHIPYARD_REGION": "europe-west1",
        "_SHIPYARD_SERVICE": "orders-api-prod-95dd",
    }
    assert trigger["serviceAccount"] == (
        "projects/acme-prod/serviceAccounts/"
        "orders-api-prod-95dd-build@acme-prod.iam.gserviceaccount.com"
    )
    assert r["registry"]["project"] == "acme-prod"
    assert "run-agent-registry-reader" not in r  # one project: nothing to grant
    # the run APIs are enabled once, the build's others beside them
    services = sorted(
        v["service"] for v in r.values() if v["type"] == "gcp:projects/service:Service"
    )
    assert services == [
        "artifactregistry.googleapis.com",
        "cloudbuild.googleapis.com",
        "iam.googleapis.com",
        "logging.googleapis.com",
        "run.googleapis.com",
    ]


def test_score_probes_map_to_cloud_run_probes(desired: Resolver) -> None:
    score = """apiVersion: score.dev/v1b1
metadata: {name: orders-api}
containers:
  api:
    image: .
    readinessProbe:
      httpGet: {path: /ready, port: 8080, httpHeaders: [{name: X-Probe, value: "1"}]}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}}
"""
    (container,) = rendered(desired, "staging", SLUG, score=score)["service"]["template"][
        "containers"
    ]
    assert container["startupProbe"] == {
        "httpGet": {
            "httpHeaders": [{"name": "X-Probe", "value": "1"}],
            "path": "/ready",
            "port": 8080,
        }
    }
    assert container["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": 8080}}
    exec_probe = score.replace(
        "livenessProbe: {httpGet: {path: /healthz, port: 8080}}",
        "livenessProbe: {exec: {command: ['true']}}",
    )
    with pytest.raises(UnsupportedComponentError, match=r"livenessProbe is an exec probe"):
        rendered(desired, "staging", SLUG, score=exec_probe)


def test_no_public_invoker_unless_public(desired: Resolver) -> None:
    r = rendered(desired, "staging", SLUG)
    assert not [v for v in r.values() if v.get("member") == "allUsers"]
    assert r["service"]["deletionProtection"] is False
    assert built(desired, "staging", SLUG)["registry"]["cleanupPolicies"][0] == {
        "action": "KEEP",
        "id": "keep-last-10",
        "mostRecentVersions": {"keepCount": 10},
    }


def test_public_site_template(desired: Resolver) -> None:
    annotations = {**SLUG, "shipyard.dev/template": "public-site"}
    r = rendered(desired, "staging", annotations)
    invoker = r["public-invoker"]
    assert invoker["type"] == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
    assert (invoker["role"], invoker["member"]) == ("roles/run.invoker", "allUsers")
    assert invoker["name"] == r["service"]["name"]
    trigger = built(desired, "staging", annotations)["trigger"]
    assert trigger["repositoryEventConfig"]["push"]["tag"] == r"^release-\d+$"
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
    r = built(desired, "staging", annotations)
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
    assert rendered(desired, "staging", annotations)["service"]["ingress"] == (
        "INGRESS_TRAFFIC_INTERNAL_ONLY"
    )


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
    state = desired("orders-api", "prod", SLUG)
    names = {
        r.name for r in render_program(gcp_program(gcp_plan(state, None)), project="o", stack="s")
    }
    assert names == {"api-run", "api-iam", "run-account"}


def test_a_local_source_with_a_github_slug_builds_from_the_slug(desired: Resolver) -> None:
    annotations = {**SLUG, "shipyard.dev/source": "."}
    state = desired("orders-api", "staging", annotations)
    assert state.source is not None and state.source.kind == "local"
    source = built(desired, "staging", annotations)["source"]
    assert source["remoteUri"] == "https://github.com/acme/orders-api.git"
    no_slug = desired("orders-api", "staging", {"shipyard.dev/source": "."})
    with pytest.raises(UnsupportedComponentError, match=r"path on this machine.*project-slug"):
        gcp_plan(no_slug, None)


def test_names_are_namespaced_and_within_google_s_limits(desired: Resolver) -> None:
    long = "a-very-long-component-name-that-goes-on-and-on-beyond-limits"
    ours = gcp_config(desired(long, "prod", SLUG))
    assert len(ours.service_name) <= 49 and len(ours.repository_id) <= 63
    assert len(ours.account_id("build")) <= 30 and len(ours.account_id("run")) <= 30
    assert len(ours.trigger_name) <= 64
    assert ours.account_id("run").endswith("-run") and ours.account_id("run")[0].isalpha()


def test_policy_violations_stop_before_any_pulumi_run(
    desired: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pulumi(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Pulumi ran")

    monkeypatch.setattr("shipyard.targets.render.render_program", no_pulumi)
    with pytest.raises(CatalogError) as caught:
        desired("orders-api", "prod", {**SLUG, "shipyard.dev/min-instances": "0"})
    assert "min-instances" in str(caught.value) and "catalog-info.yaml" in str(caught.value)
    not_github = {
        "shipyard.dev/source": "https://gitlab.example.com/acme/x.git",
        "shipyard.dev/gcp-connection": "1st-gen",
    }
    with pytest.raises(UnsupportedComponentError, match="gcp-connection"):
        render(desired("orders-api", "staging", not_github))


def test_a_repository_build_file_must_say_where_its_logs_go(desired: Resolver) -> None:
    annotations = {**SLUG, "shipyard.dev/source": ".", "shipyard.dev/cloudbuild-file": "cb.yaml"}
    state = desired("orders-api", "staging", annotations)
    assert state.source is not None and state.source.path is not None
    build_file = Path(state.source.path) / "cb.yaml"
    build_file.write_text("steps: [{name: gcr.io/cloud-builders/docker, args: [build, .]}]\n")
    with pytest.raises(UnsupportedComponentError, match=r"logging: CLOUD_LOGGING_ONLY") as caught:
        gcp_plan(state, None)
    assert str(build_file) in str(caught.value)
    build_file.write_text(
        "steps: [{name: gcr.io/cloud-builders/docker, args: [build, .]}]\n"
        "options: {logging: CLOUD_LOGGING_ONLY}\n"
    )
    assert gcp_plan(state, None).config.cloudbuild_file == "cb.yaml"


def test_the_1st_gen_github_app_stays_possible_and_validate_names_its_manual_step(
    desired: Resolver,
) -> None:
    annotations = {**SLUG, "shipyard.dev/gcp-connection": "1st-gen"}
    r = built(desired, "prod", annotations)
    assert "source" not in r and "repositoryEventConfig" not in r["trigger"]
    assert r["trigger"]["github"] == {
        "name": "orders-api",
        "owner": "acme",
        "push": {"tag": r"^v\d+\.\d+\.\d+$"},
    }
    (step,) = manual_steps(desired("orders-api", "prod", annotations))
    assert "connect acme/orders-api to Cloud Build in project acme-staging by hand" in step
    assert "Repository mapping does not exist" in step
    assert manual_steps(desired("orders-api", "prod", SLUG)) == []


def test_an_environment_named_like_the_build_stack_is_refused(desired: Resolver) -> None:
    state = desired("orders-api", "staging", SLUG)
    clash = state.model_copy(update={"environment": "gcp-build"})
    with pytest.raises(UnsupportedComponentError, match=r"'gcp-build' is the name"):
        gcp_config(clash)
