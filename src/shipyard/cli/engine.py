"""``shipyard engine``: run the Pulumi engine directly (a demo until the server exists)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import structlog
import typer

from shipyard.cli._app import OutputFormat, app
from shipyard.cli._utilities import console, print_json, with_errors_handled
from shipyard.engine import Engine, EngineEventRecord
from shipyard.engine.demo import DEMO_STACK, describe, run_demo
from shipyard.settings import Settings

__all__ = ["engine_app"]

engine_app = typer.Typer(help="Drive the Pulumi engine directly.", no_args_is_help=True)
app.add_typer(engine_app, name="engine")


@engine_app.command("demo")
@with_errors_handled
def demo(
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="text or json")
    ] = OutputFormat.text,
) -> None:
    """Up a file resource on a demo stack in the data dir, twice (the second changes nothing)."""
    _logs_to_stderr()
    settings = Settings()
    engine = Engine.from_settings(settings)
    text = output is OutputFormat.text

    def show(record: EngineEventRecord) -> None:
        line = describe(record)
        if text and line is not None:
            console.print(line, highlight=False, markup=False, soft_wrap=True)

    if text:
        console.print(f"Stack {DEMO_STACK} in {engine.data_dir} (state: {engine.backend_url})")
    results = run_demo(engine, on_event=show)
    if not text:
        print_json(
            {
                "stack": str(DEMO_STACK),
                "data_dir": str(engine.data_dir),
                "backend": engine.backend_url,
                "runs": [
                    {
                        "operation": r.operation.value,
                        "changes": dict(r.changes),
                        "changed": r.changed,
                        "duration_s": round(r.duration_s, 3),
                        "outputs": {k: v.value for k, v in r.outputs.items() if not v.secret},
                        "events": [e.to_dict() for e in r.events],
                    }
                    for r in results
                ],
            }
        )
        return
    for number, result in enumerate(results, start=1):
        changes = ", ".join(f"{op}: {n}" for op, n in sorted(result.changes.items()))
        verdict = "changed" if result.changed else "no changes"
        console.print(
            f"up #{number}: {verdict} ({changes}) in {result.duration_s:.2f} s", highlight=False
        )
    outputs = {k: v.value for k, v in results[-1].outputs.items() if not v.secret}
    console.print(f"outputs: {outputs}", highlight=False)


def _logs_to_stderr() -> None:
    """Keep stdout for the command's output (``--output json`` is parsed by scripts)."""

    def factory(*_args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(sys.stderr)

    structlog.configure(logger_factory=factory)
