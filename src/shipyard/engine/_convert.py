"""Pulumi engine events -> Shipyard records, with secret values scrubbed on the way."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pulumi.automation import events as sdk_events

from shipyard.engine.errors import FailureFacts
from shipyard.engine.events import EngineEventRecord, EventKind, EventSink, Severity

__all__ = ["EventStream", "Scrubber", "convert"]

_log = structlog.get_logger(__name__)

SECRET_MASK = "[secret]"  # noqa: S105  (the mask, not a secret)
STACK_TYPE = "pulumi:pulumi:Stack"
_SEVERITIES = {
    "debug": Severity.DEBUG,
    "info": Severity.INFO,
    "info#err": Severity.INFO,
    "warning": Severity.WARNING,
    "error": Severity.ERROR,
}


class Scrubber:
    """Replaces every known secret value in a text by ``[secret]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        return text


@dataclass(frozen=True, slots=True)
class _Fields:
    kind: EventKind
    severity: Severity = Severity.INFO
    message: str = ""
    urn: str | None = None
    resource_type: str | None = None
    op: str | None = None
    changed_keys: tuple[str, ...] = ()
    changes: Mapping[str, int] | None = None


def _text(value: Any) -> str:
    """An SDK enum (``OpType``) or string as its plain value."""
    return str(getattr(value, "value", value))


def _changed_keys(meta: Any) -> tuple[str, ...]:
    """Changed property names: the provider's diff, else a comparison of old and new inputs."""
    for keys in (meta.diffs, meta.keys, list(meta.detailed_diff or {})):
        if keys:
            return tuple(str(key) for key in keys)
    old, new = meta.old, meta.new
    if old is None or new is None:
        return ()
    olds, news = dict(old.inputs or {}), dict(new.inputs or {})
    names = sorted(set(olds) | set(news))
    return tuple(k for k in names if not k.startswith("__") and olds.get(k) != news.get(k))


def _step(kind: EventKind, meta: Any, severity: Severity = Severity.INFO) -> _Fields:
    op = _text(meta.op)
    name = str(meta.urn).rsplit("::", 1)[-1]
    keys = _changed_keys(meta) if op in {"update", "replace", "create-replacement"} else ()
    detail = f" ({', '.join(keys)})" if keys else ""
    verb = {EventKind.RESOURCE_DONE: "done", EventKind.RESOURCE_FAILED: "failed"}.get(kind, "")
    message = f"{op} {meta.type} {name}{detail}" + (f": {verb}" if verb else "")
    return _Fields(kind, severity, message, meta.urn, meta.type, op, keys)


def convert(event: sdk_events.EngineEvent) -> _Fields | None:
    """The record fields for one engine event, or None for events Shipyard does not keep."""
    if event.resource_pre_event is not None:
        return _step(EventKind.RESOURCE_STEP, event.resource_pre_event.metadata)
    if event.res_outputs_event is not None:
        return _step(EventKind.RESOURCE_DONE, event.res_outputs_event.metadata)
    if event.res_op_failed_event is not None:
        meta = event.res_op_failed_event.metadata
        return _step(EventKind.RESOURCE_FAILED, meta, Severity.ERROR)
    if event.diagnostic_event is not None:
        diag = event.diagnostic_event
        severity = _SEVERITIES.get(str(diag.severity), Severity.INFO)
        if severity is Severity.DEBUG:
            return None
        return _Fields(EventKind.DIAGNOSTIC, severity, str(diag.message).rstrip(), diag.urn)
    if event.summary_event is not None:
        changes = {_text(op): int(n) for op, n in event.summary_event.resource_changes.items()}
        listed = ", ".join(f"{op}: {n}" for op, n in sorted(changes.items())) or "no resources"
        return _Fields(EventKind.SUMMARY, message=listed, changes=changes)
    if event.prelude_event is not None:
        return _Fields(EventKind.PRELUDE, message="operation started")
    if event.stdout_event is not None:
        return _Fields(EventKind.OUTPUT, message=str(event.stdout_event.message).rstrip())
    if event.policy_event is not None:
        policy = event.policy_event
        return _Fields(
            EventKind.POLICY, Severity.WARNING, str(policy.message).rstrip(), policy.resource_urn
        )
    if event.cancel_event is not None:
        return _Fields(EventKind.END, message="event stream ended")
    return None


class EventStream:
    """Numbers, scrubs and delivers one operation's records; keeps the facts errors need.

    The sink is called from the engine's threads. If it raises, the first exception is
    kept and re-raised by :meth:`raise_sink_error` once the operation is over, so a broken
    sink never breaks Pulumi's event stream half-way.
    """

    def __init__(self, stack: str, command: str, sink: EventSink | None, scrub: Scrubber) -> None:
        self.stack = stack
        self.command = command
        self.facts = FailureFacts()
        self.records: list[EngineEventRecord] = []
        self._sink = sink
        self._scrub = scrub
        self._lock = threading.Lock()
        self._sink_error: BaseException | None = None
        self.started_at = datetime.now(UTC)
        self.stack_outputs: dict[str, Any] | None = None
        """The stack's outputs as its last outputs event gave them (secrets masked)."""
        self.ended = threading.Event()
        """Set once the engine's last event (its cancel event) was delivered."""

    def begin_command(self) -> None:
        """Forget the end and outputs of an earlier CLI command of the same operation."""
        self.stack_outputs = None
        self.ended.clear()

    def on_engine_event(self, event: sdk_events.EngineEvent) -> None:
        outputs = event.res_outputs_event
        if outputs is not None and outputs.metadata.type == STACK_TYPE:
            new = outputs.metadata.new
            self.stack_outputs = dict(new.outputs or {}) if new is not None else {}
        fields = convert(event)
        if fields is not None:
            self._emit(fields)
        if event.cancel_event is not None:
            self.ended.set()

    def note(self, kind: EventKind, message: str, severity: Severity = Severity.INFO) -> None:
        """An event of Shipyard's own (recovery, cancel) in the same numbered stream."""
        self._emit(_Fields(kind, severity, message))

    def _emit(self, fields: _Fields) -> None:
        message = self._scrub(fields.message)
        with self._lock:
            record = EngineEventRecord(
                sequence=len(self.records) + 1,
                timestamp=datetime.now(UTC),
                stack=self.stack,
                command=self.command,
                kind=fields.kind,
                severity=fields.severity,
                message=message,
                urn=fields.urn,
                resource_type=fields.resource_type,
                op=fields.op,
                changed_keys=fields.changed_keys,
                changes=dict(fields.changes or {}),
            )
            self.records.append(record)
            self._remember(record)
            self._deliver(record)

    def _remember(self, record: EngineEventRecord) -> None:
        if record.kind is EventKind.RESOURCE_FAILED and record.urn:
            self.facts.failed_urns.append(record.urn)
        elif record.kind is EventKind.DIAGNOSTIC and record.severity is Severity.ERROR:
            self.facts.error_messages.append((record.urn, record.message))

    def _deliver(self, record: EngineEventRecord) -> None:
        if self._sink is None or self._sink_error is not None:
            return
        try:
            self._sink(record)
        except Exception as exc:  # noqa: BLE001  (kept and re-raised after the operation)
            self._sink_error = exc
            _log.warning("event sink failed", stack_ref=self.stack, error=repr(exc))

    def raise_sink_error(self) -> None:
        if self._sink_error is not None:
            raise self._sink_error

    @property
    def summary_changes(self) -> dict[str, int] | None:
        for record in reversed(self.records):
            if record.kind is EventKind.SUMMARY:
                return dict(record.changes)
        return None
