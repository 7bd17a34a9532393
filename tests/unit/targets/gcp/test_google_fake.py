"""The fake Google answers as Google does: bodies held to the discovery documents,
missing things 404, disabled APIs 403 SERVICE_DISABLED, preconditions 400."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import partial
from typing import Any

import pytest

from shipyard.testing.google_fake import FakeGoogle, GoogleError, check_body, serve


def test_unknown_fields_enums_and_formats_are_refused() -> None:
    good = {"name": "t", "github": {"owner": "a", "name": "b", "push": {"tag": "^v"}}}
    check_body("cloudbuild.v1", "BuildTrigger", good)
    with pytest.raises(GoogleError, match=r'Unknown name "githubb"') as caught:
        check_body("cloudbuild.v1", "BuildTrigger", {**good, "githubb": {}})
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    with pytest.raises(GoogleError, match=r'invalid value "CLOUD_LOGGING".*CLOUD_LOGGING_ONLY'):
        check_body("cloudbuild.v1", "BuildOptions", {"logging": "CLOUD_LOGGING"})
    with pytest.raises(GoogleError, match=r"'20 minutes' is not a valid google-duration"):
        check_body("cloudbuild.v1", "Build", {"timeout": "20 minutes"})
    with pytest.raises(GoogleError, match=r"expected an integer"):
        check_body("run.v2", "GoogleCloudRunV2TrafficTarget", {"percent": "100"})
    check_body("artifactregistry.v1", "Repository", {"cleanupPolicies": {"k": {"id": "k"}}})
    with pytest.raises(GoogleError, match=r"Unknown name \"keepCount\""):
        check_body(
            "artifactregistry.v1",
            "Repository",
            {"cleanupPolicies": {"k": {"id": "k", "keepCount": 3}}},
        )


def _call(google: FakeGoogle, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{google.endpoint}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_errors_have_google_s_shape() -> None:
    with serve(FakeGoogle("acme-dev")) as google:
        run = "/v1/projects/acme-dev/locations/europe-west1/triggers/t:run"
        code, body = _call(google, "POST", run, {"source": {"tagName": "v1"}})
        assert code == 403 and body["error"]["status"] == "PERMISSION_DENIED"
        assert body["error"]["details"][0]["reason"] == "SERVICE_DISABLED"
        google.projects["acme-dev"].services.add("cloudbuild.googleapis.com")
        code, body = _call(google, "POST", run, {"source": {"tagName": "v1"}})
        assert (code, body["error"]["status"]) == (404, "NOT_FOUND")
        code, body = _call(google, "POST", run, {"source": {"tag": "v1"}})
        assert code == 400 and 'Unknown name "tag"' in body["error"]["message"]
        code, body = _call(google, "GET", "/v1/projects/elsewhere/locations/r/builds/b")
        assert code == 403 and body["error"]["details"][0]["reason"] == "CONSUMER_INVALID"


def test_the_model_refuses_what_google_refuses() -> None:
    google = FakeGoogle("acme-dev")

    trigger = partial(google.create, "gcp:cloudbuild/trigger:Trigger")
    enable = partial(google.create, "gcp:projects/service:Service")
    account = partial(google.create, "gcp:serviceaccount/account:Account")
    v2 = partial(google.create, "gcp:cloudbuildv2/repository:Repository")
    with pytest.raises(GoogleError, match=r"disableOnDestroy"):
        enable({"project": "acme-dev", "service": "iam.googleapis.com"})
    for api in ("cloudbuild", "iam"):
        enable(
            {"project": "acme-dev", "service": f"{api}.googleapis.com", "disableOnDestroy": False},
        )
    account({"project": "acme-dev", "accountId": "builder-1"})
    base = {
        "project": "acme-dev",
        "location": "europe-west1",
        "name": "t1",
        "github": {"owner": "a", "name": "b", "push": {"tag": "^v"}},
    }
    with pytest.raises(GoogleError, match=r"projects/\{PROJECT_ID\}/serviceAccounts/"):
        trigger({**base, "serviceAccount": "builder-1@acme-dev.iam.gserviceaccount.com"})
    with pytest.raises(GoogleError, match=r"does not exist"):
        trigger(
            {
                **base,
                "serviceAccount": "projects/acme-dev/serviceAccounts/"
                "nobody-1@acme-dev.iam.gserviceaccount.com",
            },
        )
    trigger_id, _ = trigger(
        {
            **base,
            "serviceAccount": "projects/acme-dev/serviceAccounts/"
            "builder-1@acme-dev.iam.gserviceaccount.com",
        },
    )
    assert google.triggers[f"projects/acme-dev/locations/europe-west1/triggers/{trigger_id}"]
    with pytest.raises(GoogleError) as caught:
        v2(
            {
                "project": "acme-dev",
                "parentConnection": "projects/acme-dev/locations/europe-west1/connections/gh",
                "name": "r",
                "remoteUri": "https://github.com/a/b.git",
            },
        )
    assert caught.value.status == "FAILED_PRECONDITION"


def test_a_user_service_account_build_needs_its_logging_option() -> None:
    google = FakeGoogle("acme-dev", enabled=("cloudbuild.googleapis.com", "iam.googleapis.com"))
    google.create(
        "gcp:serviceaccount/account:Account", {"project": "acme-dev", "accountId": "builder-1"}
    )
    google.repository_files[("https://github.com/a/b.git", "cloudbuild.yaml")] = (
        "steps: [{name: gcr.io/cloud-builders/docker, args: [build, .]}]\n"
    )
    google.create(
        "gcp:cloudbuild/trigger:Trigger",
        {
            "project": "acme-dev",
            "location": "europe-west1",
            "name": "t1",
            "filename": "cloudbuild.yaml",
            "serviceAccount": "projects/acme-dev/serviceAccounts/"
            "builder-1@acme-dev.iam.gserviceaccount.com",
            "github": {"owner": "a", "name": "b", "push": {"tag": "^v"}},
        },
    )
    with pytest.raises(GoogleError, match=r"CLOUD_LOGGING_ONLY / NONE logging options"):
        google.push_tag("https://github.com/a/b.git", "v1")
