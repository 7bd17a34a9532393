"""Job gauges read from the database when Prometheus scrapes, so every process agrees."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from shipyard.clock import utc_now
from shipyard.store import models, transaction
from shipyard.store.enums import JobKind, JobState

__all__ = ["JobsCollector"]


class JobsCollector(Collector):
    def __init__(self, database: Engine) -> None:
        self._database = database

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "shipyard_jobs",
            "Jobs in the queue's table, by kind and state.",
            labels=["kind", "state"],
        )
        depth = GaugeMetricFamily(
            "shipyard_job_queue_depth", "Queued jobs, by kind.", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "shipyard_job_queue_oldest_age_seconds",
            "Age of the oldest queued job (0 when none waits).",
        )
        with transaction(self._database, read_only=True) as session:
            counts = {
                (kind, state): count
                for kind, state, count in session.execute(
                    select(models.Job.kind, models.Job.state, func.count()).group_by(
                        models.Job.kind, models.Job.state
                    )
                )
            }
            first = session.scalar(
                select(func.min(models.Job.created_at)).where(models.Job.state == JobState.queued)
            )
        for kind in JobKind:
            for state in JobState:
                jobs.add_metric([kind.value, state.value], counts.get((kind, state), 0))
            depth.add_metric([kind.value], counts.get((kind, JobState.queued), 0))
        oldest.add_metric([], (utc_now() - first).total_seconds() if first else 0.0)
        yield from (jobs, depth, oldest)
