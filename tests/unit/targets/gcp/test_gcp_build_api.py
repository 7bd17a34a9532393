"""The Cloud Build client against a fake of the Cloud Build REST API on 127.0.0.1."""

from __future__ import annotations

import pytest
from fake_cloud_build import DIGEST, FakeCloudBuild, serve
from google.auth.credentials import AnonymousCredentials

from shipyard.targets.gcp import (
    BuildFailedError,
    BuildTimeoutError,
    BuildUpdate,
    CloudBuild,
    CloudBuildError,
)

TRIGGER = "projects/acme-prod/locations/europe-west1/triggers/orders-api-prod-tags"


def client(fake: FakeCloudBuild, timeout_s: float = 5.0) -> CloudBuild:
    return CloudBuild.connect(
        endpoint=fake.endpoint,
        credentials=AnonymousCredentials(),
        poll_interval_s=0.01,
        timeout_s=timeout_s,
    )


def test_runs_the_trigger_at_the_tag_and_returns_the_digest() -> None:
    updates: list[BuildUpdate] = []
    with serve(FakeCloudBuild({"orders-api-prod-tags"})) as fake:
        built = client(fake).run_trigger(TRIGGER, "v1.2.3", on_update=updates.append)
    assert built.digest == DIGEST
    assert built.image.endswith("/orders-api:v1.2.3")
    (run,) = fake.runs
    assert run["path"] == f"/v1/{TRIGGER}:run"  # regional, not /v1/projects/P/triggers/T
    assert run["body"]["source"]["tagName"] == "v1.2.3"
    assert [u.status for u in updates] == ["QUEUED", "WORKING", "SUCCESS"]
    assert all("cloud-build/builds;region=europe-west1/build-1" in u.log_url for u in updates)


def test_a_failed_build_names_its_status_and_log() -> None:
    fake = FakeCloudBuild({"t"}, statuses=["WORKING", "FAILURE"], status_detail="step 0 failed")
    with serve(fake), pytest.raises(BuildFailedError) as caught:
        client(fake).run_trigger("projects/p/locations/europe-west1/triggers/t", "v1")
    assert caught.value.status == "FAILURE"
    assert caught.value.log_url in str(caught.value)
    assert "step 0 failed" in str(caught.value)


def test_a_build_that_never_finishes_times_out() -> None:
    fake = FakeCloudBuild({"t"}, statuses=["QUEUED", "WORKING"])
    with serve(fake), pytest.raises(BuildTimeoutError) as caught:
        client(fake, timeout_s=0.2).run_trigger("projects/p/locations/r1/triggers/t", "v1")
    assert "still WORKING" in str(caught.value)
    assert caught.value.log_url in str(caught.value)
    assert fake.reads >= 2


def test_an_unknown_trigger_is_a_clear_error() -> None:
    with serve(FakeCloudBuild(set())) as fake, pytest.raises(CloudBuildError, match="provision"):
        client(fake).run_trigger("projects/p/locations/r1/triggers/missing", "v1")


def test_a_global_trigger_name_is_refused_before_any_call() -> None:
    with pytest.raises(CloudBuildError, match="regional"):
        CloudBuild(None, timeout_s=1).run_trigger("projects/p/triggers/t", "v1")  # type: ignore[arg-type]
