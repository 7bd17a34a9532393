"""The Cloud Build client against the fake Google's REST API on 127.0.0.1: the trigger it
runs is the one the build program created under Pulumi's mocks (none registered by hand)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from shipyard.catalog import DesiredState
from shipyard.engine import StackRef
from shipyard.services.cloud_build import BuildWaiter, CloudBuildPush, record_push
from shipyard.store import open_database, upgrade
from shipyard.targets.gcp import (
    BuildFailedError,
    BuildTimeoutError,
    BuildUpdate,
    CloudBuild,
    CloudBuildError,
    gcp_config,
    gcp_plan,
)
from shipyard.targets.gcp.program import build_program
from shipyard.testing.google_fake import FakeEngine, FakeGoogle, serve

SLUG = {"github.com/project-slug": "acme/orders-api"}
REMOTE = "https://github.com/acme/orders-api.git"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with serve(FakeGoogle("acme-staging", "acme-prod")) as fake:
        fake.connect("acme-staging", "europe-west4")
        yield fake


@pytest.fixture
def trigger(google: FakeGoogle, desired: Callable[..., DesiredState]) -> tuple[str, str]:
    """The trigger's resource name and id, after an ``up`` of the build program."""
    state = desired("orders-api", "prod", SLUG)
    result = FakeEngine(google).up(
        StackRef.of(state.component, "gcp-build"), build_program(gcp_plan(state, None))
    )
    trigger_id = str(result.outputs["trigger_id"].value)
    return gcp_config(state).trigger_resource(trigger_id), trigger_id


def client(google: FakeGoogle, timeout_s: float = 5.0) -> CloudBuild:
    return CloudBuild.connect(
        endpoint=google.endpoint,
        credentials=AnonymousCredentials(),
        poll_interval_s=0.001,
        timeout_s=timeout_s,
    )


def test_runs_the_trigger_at_the_tag_and_returns_the_pushed_digest(
    google: FakeGoogle, trigger: tuple[str, str]
) -> None:
    name, trigger_id = trigger
    updates: list[BuildUpdate] = []
    built = client(google).run_trigger(name, "v1.2.3", on_update=updates.append)
    (build,) = google.started_builds("v1.2.3")
    assert built.build_id == build["id"] and build["buildTriggerId"] == trigger_id
    assert built.digest == build["results"]["images"][0]["digest"]
    assert built.image == (
        "europe-west4-docker.pkg.dev/acme-staging/orders-api-0bb9/orders-api:v1.2.3"
    )
    # the image is in the repository, under its tag, by that digest
    (image,) = google.images[
        "projects/acme-staging/locations/europe-west4/repositories/orders-api-0bb9"
    ].values()
    assert image["tags"] == ["v1.2.3"] and image["uri"].endswith(f"@{built.digest}")
    (_, path, body) = next(c for c in google.calls if c[0] == "POST")
    assert path.startswith(f"/v1/{name}:run")  # regional, not /v1/projects/P/triggers/T
    assert body["source"]["tagName"] == "v1.2.3"
    assert [u.status for u in updates] == ["QUEUED", "WORKING", "SUCCESS"]
    assert all(f"builds;region=europe-west4/{build['id']}" in u.log_url for u in updates)


def test_a_tag_push_build_is_found_not_run_again(
    google: FakeGoogle, trigger: tuple[str, str]
) -> None:
    name, trigger_id = trigger
    (pushed,) = google.push_tag(REMOTE, "v1.2.3")
    built, started = client(google).build_tag(name, trigger_id, "v1.2.3")
    assert (built.build_id, started) == (pushed, False)
    again, started = client(google).build_tag(name, trigger_id, "v1.2.3")
    assert (again, started) == (built, False)
    assert len(google.started_builds("v1.2.3")) == 1
    assert google.push_tag(REMOTE, "nightly") == []  # outside the trigger's tag filter


def test_an_immutable_tag_cannot_be_pushed_twice(
    google: FakeGoogle, trigger: tuple[str, str]
) -> None:
    name, _ = trigger
    client(google).run_trigger(name, "v1.2.3")
    with pytest.raises(BuildFailedError, match=r"immutable"):
        client(google).run_trigger(name, "v1.2.3")


def test_a_failed_build_names_its_status_and_log(
    google: FakeGoogle, trigger: tuple[str, str]
) -> None:
    google.build_plan = ["WORKING", "FAILURE"]
    google.build_detail = "step 0 failed"
    with pytest.raises(BuildFailedError) as caught:
        client(google).run_trigger(trigger[0], "v1")
    assert caught.value.status == "FAILURE"
    assert caught.value.log_url in str(caught.value)
    assert "step 0 failed" in str(caught.value)


def test_a_build_that_never_finishes_times_out(
    google: FakeGoogle, trigger: tuple[str, str]
) -> None:
    google.build_plan = ["QUEUED", "WORKING"]
    with pytest.raises(BuildTimeoutError) as caught:
        client(google, timeout_s=0.2).run_trigger(trigger[0], "v1")
    assert "still WORKING" in str(caught.value)
    assert caught.value.log_url in str(caught.value)


def test_a_follower_waits_for_the_end_it_is_told_of_not_its_poll_interval(
    google: FakeGoogle, trigger: tuple[str, str], tmp_path: Path
) -> None:
    """Between two reads of a build the follower waits through ``wait_for_end``: with a
    Cloud Build notification of the build's end recorded in the store (as
    ``POST /api/v1/hooks/cloudbuild`` records it), a 60 s poll interval is cut short."""
    database = open_database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    upgrade(database)
    waited: list[tuple[str, float]] = []
    waiter = BuildWaiter(database, check_every_s=0.01)

    def wait_for_end(build_id: str, seconds: float) -> bool:
        waited.append((build_id, seconds))
        return waiter.wait(build_id, seconds)

    def on_update(update: BuildUpdate) -> None:
        if update.status == "QUEUED":  # Cloud Build publishes the end when it comes
            end = CloudBuildPush(
                uuid.uuid4().hex, update.build_id, "SUCCESS", None, None, None, None
            )
            threading.Timer(0.2, record_push, (database, end)).start()

    follower = CloudBuild.connect(
        endpoint=google.endpoint,
        credentials=AnonymousCredentials(),
        poll_interval_s=60.0,
        wait_for_end=wait_for_end,
    )
    started = time.monotonic()
    try:
        built = follower.run_trigger(trigger[0], "v1.2.3", on_update=on_update)
    finally:
        database.dispose()
    assert time.monotonic() - started < 30  # not the two 60 s polls it would sleep
    assert waited == [(built.build_id, 60.0), (built.build_id, 60.0)]  # never time.sleep


def test_a_trigger_never_created_is_google_s_404(google: FakeGoogle) -> None:
    google.projects["acme-prod"].services.add("cloudbuild.googleapis.com")
    with pytest.raises(CloudBuildError, match=r"HTTP 404.*provision"):
        client(google).run_trigger("projects/acme-prod/locations/europe-west1/triggers/t", "v1")


def test_a_disabled_api_is_google_s_403(google: FakeGoogle) -> None:
    with pytest.raises(CloudBuildError, match=r"cloudbuild.googleapis.com has not been used"):
        client(google).run_trigger("projects/acme-prod/locations/europe-west1/triggers/t", "v1")


def test_a_global_trigger_name_is_refused_before_any_call() -> None:
    with pytest.raises(CloudBuildError, match="regional"):
        CloudBuild(None, timeout_s=1).run_trigger("projects/p/triggers/t", "v1")  # type: ignore[arg-type]
