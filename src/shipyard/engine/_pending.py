"""An ``up`` whose Pulumi CLI starts before its program is known (:class:`PendingUp`)."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING

import structlog

from shipyard.engine._program import Program
from shipyard.engine.cancel import CancelToken
from shipyard.engine.errors import EngineError, OperationCancelledError
from shipyard.engine.events import EngineEventRecord, EventSink
from shipyard.engine.names import StackRef
from shipyard.engine.results import OperationResult

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine

__all__ = ["PendingUp", "UpAbandonedError"]

_log = structlog.get_logger(__name__)

_START_WAIT_S = 2.0


class UpAbandonedError(Exception):
    """The program of an abandoned :class:`PendingUp`: it declares no resource."""


class PendingUp:
    """An ``up`` of one stack started now, its program handed later.

    The Pulumi CLI spends its first 0.3 s here (start-up, the state, the secrets manager,
    the language host) before it asks for the program. A caller with records still to
    write and an image still to look up starts the ``up`` first, does that work while the
    CLI starts, then hands the program with :meth:`run`.

    A caller that finds it needs no ``up`` after all calls :meth:`abandon` (or leaves the
    ``with`` block without :meth:`run`): the program raises before it declares any
    resource, so the update fails having changed nothing (the stack's Pulumi history shows
    one failed update with ``same`` only). The engine's events wait until the program is
    handed, so the caller's own records come first; an abandoned up's events are dropped.
    A cancel before the program is handed fails the program, which has declared nothing
    (:meth:`run` raises ``OperationCancelledError``); after, it cancels the CLI as usual.
    """

    def __init__(
        self,
        engine: Engine,
        ref: StackRef,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.ref = ref
        self._on_event = on_event
        self._program: Future[Program] = Future()
        self._outcome: Future[OperationResult] = Future()
        self._decided = threading.Event()
        self._abandoned = False
        self._lock = threading.Lock()
        # The caller's cancel reaches the engine (SIGINT to the CLI) only once the program
        # is handed; before that it fails the program, which has declared nothing yet.
        self._engine_cancel = CancelToken()
        self._cancelled_early = False
        self._unsubscribe = cancel.subscribe(self._cancelled) if cancel is not None else None
        self._cli_started = threading.Event()
        self._thread = threading.Thread(
            target=self._up,
            args=(engine, self._engine_cancel),
            name=f"shipyard-up-{ref}",
            daemon=True,
        )
        self._thread.start()
        # The caller's own work starts once the CLI runs (or the up failed, or another
        # operation of the stack in this process holds it): until then that work would
        # only slow down, through the GIL, what the CLI waits for.
        deadline = time.monotonic() + _START_WAIT_S
        while not (self._cli_started.wait(0.005) or self._outcome.done()):
            if time.monotonic() > deadline:
                break

    @property
    def handed(self) -> bool:
        """:meth:`run` or :meth:`abandon` was called."""
        return self._decided.is_set()

    def run(self, program: Program) -> OperationResult:
        """Hand the ``up`` its program and wait for its result (or its typed error)."""
        if self._decided.is_set():
            raise RuntimeError(f"the pending up of {self.ref} was already run or abandoned")
        with self._lock, contextlib.suppress(InvalidStateError):  # a cancel failed it already
            self._program.set_result(program)
        self._decided.set()
        try:
            return self._outcome.result()
        except EngineError as exc:
            if self._cancelled_early:
                raise OperationCancelledError(self.ref, "up", "before its program ran") from exc
            raise
        finally:
            self._close()

    def abandon(self, reason: str) -> None:
        """Let the ``up`` fail without touching a resource, and wait until its CLI exits
        (0.4 s here); ``reason`` goes to the log. Nothing happens after :meth:`run`."""
        if self._decided.is_set():
            return
        self._abandoned = True
        with self._lock, contextlib.suppress(InvalidStateError):  # a cancel failed it already
            self._program.set_exception(UpAbandonedError(f"abandoned: {reason}"))
        self._decided.set()
        self._thread.join()
        self._close()
        failure = self._outcome.exception()
        _log.info(
            "engine.up_abandoned",
            stack_ref=str(self.ref),
            reason=reason,
            ended=type(failure).__name__ if failure else "succeeded",
        )

    def __enter__(self) -> PendingUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abandon("the caller needed no up after all")

    def _up(self, engine: Engine, cancel: CancelToken | None) -> None:
        try:
            result = engine.up(
                self.ref,
                self._deferred,
                on_event=self._sink,
                cancel=cancel,
                on_started=self._cli_started.set,
            )
        except BaseException as exc:  # noqa: BLE001  handed to run() or abandon()
            self._outcome.set_exception(exc)
        else:
            self._outcome.set_result(result)

    def _deferred(self) -> None:
        """The program the CLI runs: the handed one, once it is handed."""
        program = self._program.result()
        program()

    def _sink(self, record: EngineEventRecord) -> None:
        self._decided.wait()
        if not self._abandoned and self._on_event is not None:
            self._on_event(record)

    def _cancelled(self) -> None:
        with self._lock:
            if not self._program.done():
                self._cancelled_early = True
                self._program.set_exception(UpAbandonedError("cancelled before its program ran"))
                return
        self._engine_cancel.cancel()

    def _close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
