"""``benchmarks/control_plane.py --quick`` runs and reports every measure as a number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "control_plane.py"
MEASURES = (
    "deploy_vs_sdk_up_ratio",
    "deploy_vs_engine_up_ratio",
    "engine_vs_sdk_up_ratio",
    "unchanged_deploy_p95_s",
    "worker_speedup",
    "api_p99_ms_sqlite",
    "api_p99_ms_postgresql",
    "event_to_sse_p95_ms_sqlite",
    "event_to_sse_p95_ms_postgresql",
    "idle_rss_mb",
    "idle_rss_with_children_mb",
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.mark.timeout(1800)
def test_control_plane_benchmark_quick_reports_every_measure(tmp_path: Path) -> None:
    output = tmp_path / "control_plane.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(output.read_text())

    assert str(BENCHMARK) in report["command"] and "--quick" in report["command"]
    assert all(_number(value) for value in report["load_at_start"])
    assert {key: _number(report["summary"].get(key)) for key in MEASURES} == dict.fromkeys(
        MEASURES, True
    )
    for database in ("sqlite", "postgresql"):
        routes = report["api_latency"][database]["routes_ms"]
        assert len(routes) == 3
        assert all(_number(stats[p]) for stats in routes.values() for p in ("p50", "p95", "p99"))
    ratio = report["deploy_vs_sdk_up"]
    assert len(ratio["rounds"]) >= 1
    for measured in ratio["rounds"]:
        # Each round timed all three sides: the API, Shipyard's engine and the SDK.
        assert sorted(measured["order"]) == ["api", "engine", "sdk"]
        assert all(_number(measured[key]) for key in ("api_s", "engine_up_s", "sdk_up_s"))
        assert 0 <= measured["sdk_select_s"] < measured["sdk_up_s"]
        # Computed from the unrounded seconds: equal to the rounded ones' within rounding.
        expected = measured["api_s"] / measured["sdk_up_s"]
        assert measured["ratio_vs_sdk"] == pytest.approx(expected, abs=0.002)
    for key in ("deploy_vs_sdk_up", "deploy_vs_engine_up", "engine_vs_sdk_up"):
        low, high = report[key]["median_ratio_ci95"]
        assert low <= report[key]["median_ratio"] <= high
    assert report["goals"]["deploy_vs_sdk_up_ratio_max"] == ratio["goal_ratio_max"]
    assert report["unchanged_deploy"]["ms"]["n"] >= 20
