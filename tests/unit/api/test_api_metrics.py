"""``/metrics``: API latency by route template, job gauges read from the database."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from shipyard.jobs import JobKind, enqueue
from shipyard.store import transaction
from shipyard.testing.api import Api


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_expose_latency_by_route_template_and_job_gauges(sqlite_api: Api) -> None:
    with transaction(sqlite_api.database) as session:
        enqueue(session, JobKind.deploy, "default/a/dev")
        enqueue(session, JobKind.deploy, "default/b/dev")
    sqlite_api.client.get("/api/v1/components/default/x")

    response = sqlite_api.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    latency = frozenset(
        {"method": "GET", "route": "/api/v1/components/{namespace}/{name}", "status": "404"}.items()
    )
    assert samples[("shipyard_api_request_duration_seconds_count", latency)] >= 1
    assert samples[("shipyard_job_queue_depth", frozenset({("kind", "deploy")}))] == 2
    assert samples[("shipyard_jobs", frozenset({("kind", "deploy"), ("state", "queued")}))] == 2
    assert samples[("shipyard_job_queue_oldest_age_seconds", frozenset())] >= 0
    for histogram in (
        "shipyard_deploy_duration_seconds",
        "shipyard_pulumi_operation_duration_seconds",
    ):
        assert f"# TYPE {histogram} histogram" in response.text
