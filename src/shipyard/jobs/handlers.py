"""Job handlers: what runs a job of each kind, named as importable ``module:function``.

A handler is ``handler(ctx: JobContext) -> dict`` (the job's JSON result). It runs in the
job's own child process, so the registry holds only names: the worker passes the name to
the child, which imports it there. Raise :class:`~shipyard.jobs.errors.TransientJobError`
to ask for a retry, :class:`~shipyard.jobs.errors.JobCancelledError` (or let the engine's
``OperationCancelledError`` through) once ``ctx.cancel`` was tripped; anything else fails
the job for good.

A handler's module may define ``prepare_job_process(settings, database)``
(:data:`PREPARE_PROCESS`): a job's process starts before its job is known, and runs it
then, to do what every job of the module does first and cold (compile its first queries,
parse the platform file), off the job's path. It must not write, and may fail: it is a
warm-up, logged and skipped on error.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.jobs.errors import HandlerNotFoundError, JobCancelledError
from shipyard.settings import Settings
from shipyard.store.enums import JobKind

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shipyard.engine import CancelToken, EngineEventRecord, EventSink

__all__ = [
    "DEFAULT_HANDLERS",
    "PREPARE_PROCESS",
    "Emit",
    "Handler",
    "HandlerRegistry",
    "JobContext",
    "default_registry",
    "load_handler",
    "register",
]

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

PREPARE_PROCESS = "prepare_job_process"
"""The name of a handler module's warm-up hook (see the module docstring)."""

DEFAULT_HANDLERS: Mapping[JobKind, str] = {}
"""The handlers every worker starts with (the services register theirs here)."""


class Emit:
    """Appends one event to the job (``emit(kind, message, level=..., **data)``).

    The job's process stores them from a thread of its own, in order; :meth:`flush`
    waits until every event given so far is stored (and raises if storing failed): a
    write of the job's own that must come after them (its end) flushes first."""

    def __init__(
        self,
        append: Callable[[str, str, str, dict[str, Any] | None], None],
        flush: Callable[[], None] | None = None,
    ) -> None:
        self._append = append
        self._flush = flush

    def __call__(self, kind: str, message: str, /, *, level: str = "info", **data: Any) -> None:
        self._append(kind, message, level, data or None)

    def flush(self) -> None:
        if self._flush is not None:
            self._flush()


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets: the job, Shipyard's settings, a cancel token, an event sink."""

    job_id: int
    kind: JobKind
    stack_key: str
    """``namespace/name/environment``."""
    payload: dict[str, Any]
    attempt: int
    needs_recovery: bool
    """An earlier attempt died mid-run: recover the stack first (the engine does so
    before every operation anyway)."""
    settings: Settings
    cancel: CancelToken
    """Tripped when the job is cancelled: pass it to the engine, or check it and raise
    :class:`JobCancelledError`."""
    emit: Emit
    """Appends an event to the job, in its own transaction (live to SSE readers)."""
    database: Engine | None = None
    """The job process's database engine (its connection is open already); a handler
    that gets None makes its own."""

    def raise_if_cancelled(self) -> None:
        if self.cancel.cancelled:
            raise JobCancelledError(f"job {self.job_id} was cancelled")

    def engine_sink(self) -> EventSink:
        """An ``on_event`` for the engine: each engine record becomes a job event."""

        def sink(record: EngineEventRecord) -> None:
            self.emit(
                f"engine.{record.kind.value}",
                record.message,
                level=record.severity.value,
                **record.to_dict(),
            )

        return sink


Handler = Callable[[JobContext], dict[str, Any]]


class HandlerRegistry:
    """Job kind -> ``module:function`` of its handler."""

    def __init__(self, targets: Mapping[JobKind, str] | None = None) -> None:
        self._targets: dict[JobKind, str] = {}
        for kind, target in (targets or {}).items():
            self.register(kind, target)

    def register(self, kind: JobKind | str, target: str) -> None:
        """Run jobs of ``kind`` with the function ``target`` (``"package.module:function"``)."""
        if not _TARGET.match(target):
            raise HandlerNotFoundError(
                f"handler {target!r} for job kind {kind!r} is not 'package.module:function'"
            )
        self._targets[_kind(kind)] = target

    def target(self, kind: JobKind | str) -> str:
        try:
            return self._targets[_kind(kind)]
        except KeyError:
            raise HandlerNotFoundError(
                f"no handler registered for job kind {kind!s}: register one with "
                "shipyard.jobs.register(kind, 'module:function') or `shipyard worker "
                "--handler KIND=module:function`"
            ) from None

    def copy(self) -> HandlerRegistry:
        return HandlerRegistry(self._targets)

    def __iter__(self) -> Iterator[tuple[JobKind, str]]:
        return iter(sorted(self._targets.items()))


def _kind(kind: JobKind | str) -> JobKind:
    try:
        return JobKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in JobKind)
        raise HandlerNotFoundError(f"unknown job kind {kind!r}: one of {known}") from None


_DEFAULT = HandlerRegistry(DEFAULT_HANDLERS)


def default_registry() -> HandlerRegistry:
    """The process-wide registry workers use unless given another."""
    return _DEFAULT


def register(kind: JobKind | str, target: str) -> None:
    """Register ``target`` (``module:function``) for ``kind`` in :func:`default_registry`."""
    _DEFAULT.register(kind, target)


def load_handler(target: str) -> Handler:
    """Import ``module:function``; raises :class:`HandlerNotFoundError` saying why not."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerNotFoundError(f"handler {target}: cannot import {module_name}: {exc}") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise HandlerNotFoundError(f"handler {target}: {module_name} has no function {attribute}")
    loaded: Handler = handler
    return loaded
