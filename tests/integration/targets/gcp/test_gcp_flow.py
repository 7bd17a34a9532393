"""The gcp target's whole flow against the fake Google: what the program creates under
Pulumi's mocks is what Cloud Build, Artifact Registry and Cloud Run then find over REST.

register (provision) -> tag push (the trigger builds once, pushing a digest) -> deploy to
dev -> promote to prod -> rollback."""

from __future__ import annotations

import pytest
from gcp_cloud import REMOTE, SLUG, Cloud, Resolver

from shipyard.engine import StackRef
from shipyard.targets.gcp import (
    NotServingError,
    ReleaseImageGoneError,
    UnsupportedComponentError,
    gcp_config,
)
from shipyard.targets.gcp.flow import BUILD_STACK

pytestmark = pytest.mark.integration  # a REST server and Pulumi's mock runtime per test


def test_register_push_deploy_promote_rollback(cloud: Cloud, desired: Resolver) -> None:
    google, target = cloud.google, cloud.target
    dev, prod = desired("dev"), desired("prod")
    # register: both environments provisioned (autoDeploy), the build stack once
    target.provision(dev)
    target.provision(prod)
    (trigger,) = google.triggers.values()
    assert trigger["resourceName"].startswith("projects/acme-dev/locations/europe-west1/")

    # a tag push: the one trigger builds it, once, and pushes a digest
    (first,) = google.push_tag(REMOTE, "v1.0.0")
    lines: list[str] = []
    deployed_dev = target.deploy(dev, "v1.0.0", on_line=lines.append)
    assert deployed_dev.release is not None
    release = deployed_dev.release
    assert [b["id"] for b in google.started_builds("v1.0.0")] == [first]
    assert any(f"build {first}" in line and "the build the trigger ran" in line for line in lines)
    registry = gcp_config(dev).registry_uri
    assert registry.startswith("europe-west1-docker.pkg.dev/acme-dev/")
    assert release.image == f"{registry}/orders-api:v1.0.0"
    assert release.digest.startswith("sha256:")

    # promote: prod runs dev's digest, from dev's build project (no build)
    target.deploy_release(prod, release)
    dev_service = gcp_config(dev).service_resource
    prod_service = gcp_config(prod).service_resource
    assert google.running_digest(prod_service) == google.running_digest(dev_service)
    assert google.running_digest(prod_service) == release.digest
    assert len(google.started_builds()) == 1
    image = google.services[prod_service]["template"]["containers"][0]["image"]
    assert image == f"{registry}/orders-api@{release.digest}"
    # prod's Cloud Run service agent reads the build project's repository
    number = google.projects["acme-prod"].number
    agent = f"serviceAccount:service-{number}@serverless-robot-prod.iam.gserviceaccount.com"
    assert google.has_role(
        gcp_config(prod).repository_resource, "roles/artifactregistry.reader", agent
    )

    # a second tag, deployed to prod without a push first: the trigger runs, once
    second = target.deploy(prod, "v1.1.0").release
    assert second is not None and second.digest != release.digest
    assert len(google.started_builds("v1.1.0")) == 1
    assert google.running_digest(prod_service) == second.digest
    # and the same tag again finds that build
    assert target.run_trigger(dev, "v1.1.0") == second
    assert len(google.started_builds("v1.1.0")) == 1

    # rollback: prod back on the first digest, no build
    target.deploy_release(prod, release)
    assert google.running_digest(prod_service) == release.digest
    assert len(google.started_builds()) == 2


def test_a_first_deploy_to_a_new_project_provisions_what_is_missing(
    cloud: Cloud, desired: Resolver
) -> None:
    google = cloud.google
    assert not google.projects["acme-dev"].services  # a new project: no API enabled
    dev = desired("dev")
    deployed = cloud.target.deploy(dev, "v2.0.0")
    assert deployed.url is not None and deployed.release is not None
    assert set(cloud.engine.stacks) == {
        StackRef.of(dev.component, BUILD_STACK),
        StackRef.of(dev.component, "dev"),
    }
    assert {
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "iam.googleapis.com",
        "run.googleapis.com",
    } <= google.projects["acme-dev"].services
    assert len(google.started_builds("v2.0.0")) == 1


def test_a_tag_outside_the_pattern_is_refused_before_any_call(
    cloud: Cloud, desired: Resolver
) -> None:
    with pytest.raises(UnsupportedComponentError, match=r"tag-pattern"):
        cloud.target.deploy(desired("dev"), "nightly")
    assert cloud.google.calls == [] and cloud.engine.ups == []


def test_a_rollback_to_a_deleted_image_is_refused_before_the_up(
    cloud: Cloud, desired: Resolver
) -> None:
    google, target, dev = cloud.google, cloud.target, desired("dev")
    old = target.deploy(dev, "v1.0.0").release
    assert old is not None
    target.deploy(dev, "v1.1.0")
    repository = gcp_config(dev).repository_resource
    google.delete_image(repository, old.digest)
    ups = list(cloud.engine.ups)
    with pytest.raises(ReleaseImageGoneError, match=r"no longer in Artifact Registry") as caught:
        target.deploy_release(dev, old)
    assert "deploy the tag v1.0.0 again" in str(caught.value)
    assert cloud.engine.ups == ups


def test_a_deploy_is_done_only_when_the_new_revision_serves(
    cloud: Cloud, desired: Resolver
) -> None:
    google, target, dev = cloud.google, cloud.target, desired("dev")
    target.deploy(dev, "v1.0.0")
    name = gcp_config(dev).service_resource
    # pinned to the first revision in the console: the next deploy moves all traffic
    google.pin_traffic(name, google.services[name]["latestReadyRevision"].rpartition("/")[2])
    second = target.deploy(dev, "v1.1.0").release
    assert second is not None and google.running_digest(name) == second.digest
    google.revisions_become_ready = False
    with pytest.raises(NotServingError, match=r"not serving all traffic"):
        target.deploy(dev, "v1.2.0")


def test_two_namespaces_same_name_do_not_collide(cloud: Cloud, desired: Resolver) -> None:
    ours = desired("dev", namespace="default", name="greeter")
    theirs = desired("dev", namespace="team-b", name="greeter")
    a, b = gcp_config(ours), gcp_config(theirs)
    assert a.service_name != b.service_name
    assert a.repository_id != b.repository_id and a.trigger_name != b.trigger_name
    cloud.target.provision(ours)
    cloud.target.provision(theirs)
    assert len(cloud.google.triggers) == 2 and len(cloud.google.repositories) == 2


def test_per_environment_builds_the_tag_in_each_environment(
    cloud: Cloud, desired: Resolver
) -> None:
    google, target = cloud.google, cloud.target
    google.connect("acme-prod", "europe-west4")  # each environment's project connects
    annotations = {**SLUG, "shipyard.dev/build": "per-environment"}
    dev, prod = desired("dev", annotations), desired("prod", annotations)
    ours = target.deploy(dev, "v1.0.0").release
    assert ours is not None
    assert target.release_of(prod, "v1.0.0", ours) is None  # a promote builds prod's own
    theirs = target.deploy(prod, "v1.0.0").release
    assert theirs is not None and theirs.digest != ours.digest
    builds = google.started_builds("v1.0.0")
    assert sorted(b["substitutions"]["_SHIPYARD_ENVIRONMENT"] for b in builds) == ["dev", "prod"]
    assert theirs.image.startswith("europe-west4-docker.pkg.dev/acme-prod/")
    assert google.running_digest(gcp_config(prod).service_resource) == theirs.digest
    assert StackRef.of(dev.component, BUILD_STACK) not in cloud.engine.stacks


def test_destroy_removes_the_environment_and_keeps_the_builds(
    cloud: Cloud, desired: Resolver
) -> None:
    google, target = cloud.google, cloud.target
    public = desired("dev", {**SLUG, "shipyard.dev/public": "true"})
    target.deploy(public, "v1.0.0")
    name = gcp_config(public).service_resource
    assert google.has_role(name, "roles/run.invoker", "allUsers")
    # public no more: the next up deletes the invoker it no longer declares
    private = desired("dev")
    target.deploy(private, "v1.0.0")
    assert not google.has_role(name, "roles/run.invoker", "allUsers")
    target.destroy(private)
    assert name not in google.services
    assert len(google.triggers) == 1 and google.images  # the build stack and its images stay
    assert "run.googleapis.com" in google.projects["acme-dev"].services  # never disabled


def test_a_tag_already_in_the_registry_is_never_built_again(
    cloud: Cloud, desired: Resolver
) -> None:
    google, target, dev = cloud.google, cloud.target, desired("dev")
    first = target.deploy(dev, "v1.0.0").release
    google.builds.clear()  # the build is past the newest ones Shipyard looks through
    lines: list[str] = []
    again = target.run_trigger(dev, "v1.0.0", on_line=lines.append)
    assert again == first and google.builds == {}  # a run would fail: the tag is immutable
    assert any("is in Artifact Registry" in line for line in lines)


def test_a_promote_is_held_to_the_target_environment_s_tag_pattern(
    cloud: Cloud, desired: Resolver
) -> None:
    annotations = {**SLUG, "shipyard.dev/dev.tag-pattern": r"^(v\d+\.\d+\.\d+|rc-\d+)$"}
    dev, prod = desired("dev", annotations), desired("prod", annotations)
    candidate = cloud.target.deploy(dev, "rc-1").release
    assert candidate is not None
    ups = list(cloud.engine.ups)
    with pytest.raises(UnsupportedComponentError, match=r"'rc-1' does not match"):
        cloud.target.deploy_release(prod, candidate)
    assert cloud.engine.ups == ups
