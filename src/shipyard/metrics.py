"""Shipyard's Prometheus metrics, defined once; other modules observe them.

They live in :data:`REGISTRY` (not the client's global default registry), which
``GET /metrics`` exposes together with the gauges read from the database at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "API_REQUEST_DURATION",
    "BUILD_RESULTS",
    "DEPLOY_DURATION",
    "JOB_QUEUE_WAIT",
    "PULUMI_DURATION",
    "REGISTRY",
]

REGISTRY = CollectorRegistry(auto_describe=True)

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)

API_REQUEST_DURATION = Histogram(
    "shipyard_api_request_duration_seconds",
    "API request latency, by route template (not the raw path), method and status.",
    ["method", "route", "status"],
    buckets=_FAST,
    registry=REGISTRY,
)

DEPLOY_DURATION = Histogram(
    "shipyard_deploy_duration_seconds",
    "From a deployment's start to its end, by environment and outcome.",
    ["environment", "status"],
    buckets=_SLOW,
    registry=REGISTRY,
)

PULUMI_DURATION = Histogram(
    "shipyard_pulumi_operation_duration_seconds",
    "Duration of one Pulumi operation (up, preview, refresh, destroy), by outcome.",
    ["operation", "outcome"],
    buckets=_SLOW,
    registry=REGISTRY,
)

JOB_QUEUE_WAIT = Histogram(
    "shipyard_job_queue_wait_seconds",
    "From a job's enqueue to its claim by a worker, by job kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
    registry=REGISTRY,
)

BUILD_RESULTS = Counter(
    "shipyard_builds",
    "Finished image builds, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
