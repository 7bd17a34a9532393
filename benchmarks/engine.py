"""Benchmark of Shipyard's engine against the bare Automation API.

(a) Shipyard ``Engine.up`` vs a direct ``pulumi.automation`` ``Stack.up`` (same flags) of the same
    program on an equivalent stack (same CLI, backend, passphrase), alternating which
    goes first, each ``up`` forced to update one resource (the file's content changes
    every time) so both do real work; both stream engine events to a callback.
(b) Wall time of a no-op ``up`` (nothing changed) through the engine, and direct.
(c) Peak RSS of this process (Shipyard's own; the CLI and providers are children).

Usage: python benchmarks/engine.py --output FILE [--pairs N] [--noops N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import structlog
from pulumi import automation as auto

from shipyard.engine import Engine, Program, StackRef
from shipyard.engine.testing import FileResource
from shipyard.engine.toolchain import ensure_pulumi
from shipyard.settings import Settings


def file_program(path: Path, content: str) -> Program:
    def program() -> None:
        resource_ = FileResource("file", str(path), content)
        pulumi.export("path", resource_.id)

    return program


def direct_stack(engine: Engine, work: Path, project: str) -> Any:
    """The same stack setup as the engine's, made with the Automation API alone."""
    work.mkdir(parents=True)
    env = {k: v for k, v in engine.environment.items() if k != "PULUMI_HOME"}
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_home=str(work.parent / "direct-home"),
        env_vars=env,
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(
            name=project, runtime="python", backend=auto.ProjectBackend(url=engine.backend_url)
        ),
        pulumi_command=auto.PulumiCommand(root=str(engine.cli.bin_dir.parent)),
    )
    return auto.create_or_select_stack(
        "bench", project_name=project, program=file_program(work / "x", "x"), opts=options
    )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--noops", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    if args.pairs < 5:
        parser.error("--pairs must be at least 5")

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", backend_url=None, secrets_provider=None)
        engine = Engine(settings, ensure_pulumi(settings))
        ref = StackRef.of("bench/shipyard", "bench")
        direct = direct_stack(engine, root / "direct-work", "bench.direct")
        events: list[object] = []

        def shipyard_up(content: str) -> float:
            program = file_program(root / "shipyard.txt", content)
            return timed(lambda: engine.up(ref, program, on_event=events.append))

        def direct_up(content: str) -> float:
            program = file_program(root / "direct.txt", content)
            return timed(
                lambda: direct.up(
                    program=program, on_event=events.append, color="never", show_secrets=False
                )
            )

        shipyard_up("warm-up")
        direct_up("warm-up")
        pairs = []
        for index in range(args.pairs):
            content = f"change {index}"
            if index % 2 == 0:
                s, d = shipyard_up(content), direct_up(content)
            else:
                d, s = direct_up(content), shipyard_up(content)
            pairs.append(
                {"shipyard_s": round(s, 4), "direct_s": round(d, 4), "ratio": round(s / d, 4)}
            )
            events.clear()

        last = f"change {args.pairs - 1}"
        noop_shipyard = [shipyard_up(last) for _ in range(args.noops)]
        noop_direct = [direct_up(last) for _ in range(args.noops)]

    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ratios = [p["ratio"] for p in pairs]
    report = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pulumi_cli": engine.cli.version,
            "pulumi_sdk": pulumi_version(),
        },
        "a_up_vs_direct": {
            "what": "one update of one dynamic-provider resource per up (content changes "
            "every time), alternating order; both stream events to a callback and pass the same "
            "CLI flags (color=never, show_secrets=False), so the ratio is Shipyard's overhead: "
            "crash-recovery checks, event conversion, locks, explicit environment",
            "pairs": pairs,
            "median_ratio": round(statistics.median(ratios), 4),
            "goal_ratio": 1.05,
            "median_shipyard_s": round(statistics.median(p["shipyard_s"] for p in pairs), 4),
            "median_direct_s": round(statistics.median(p["direct_s"] for p in pairs), 4),
        },
        "b_noop_up": {
            "shipyard_median_s": round(statistics.median(noop_shipyard), 4),
            "direct_median_s": round(statistics.median(noop_direct), 4),
            "shipyard_runs_s": [round(t, 4) for t in noop_shipyard],
        },
        "c_peak_rss": {
            "shipyard_process_mb": round(usage.ru_maxrss / 1024, 1),
            "largest_child_mb": round(children.ru_maxrss / 1024, 1),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def pulumi_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


if __name__ == "__main__":
    main()
