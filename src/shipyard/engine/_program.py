"""Wrapping the caller's inline program: its traceback, and safe provider pickling."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

from shipyard.engine.errors import FailureFacts

__all__ = ["Program", "capturing", "no_program"]

Program = Callable[[], None]
"""An inline Pulumi program: a function that declares resources and exports."""

_CONSTRUCTION_LOCK = threading.Lock()
"""Serialises the synchronous part of programs: ``pulumi.dynamic`` pickles providers by
swapping ``pickle.Pickler`` process-wide while it does, which is unsafe when two stacks
declare dynamic resources on two threads at the same moment."""


def no_program() -> None:
    """The workspace program for refresh, destroy and recovery, which never run it."""


def capturing(program: Program, facts: FailureFacts, scrub: Callable[[str], str]) -> Program:
    """``program``, recording its exception's traceback (scrubbed) into ``facts``."""

    def run() -> None:
        try:
            with _CONSTRUCTION_LOCK:
                program()
        except Exception as exc:
            facts.program_summary = scrub(f"{type(exc).__name__}: {exc}")
            facts.program_traceback = scrub("".join(traceback.format_exception(exc)).strip())
            raise

    return run
