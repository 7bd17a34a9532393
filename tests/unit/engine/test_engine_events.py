"""Engine events (as the CLI sends them) -> Shipyard records."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.automation import EngineEvent

from shipyard.engine import EngineEventRecord, EventKind, Severity
from shipyard.engine._convert import EventStream, Scrubber, convert

URN = "urn:pulumi:dev::orders::pulumi-python:dynamic:Resource::file"
TYPE = "pulumi-python:dynamic:Resource"


def event(**body: Any) -> EngineEvent:
    return EngineEvent.from_json({"sequence": 7, "timestamp": 1_700_000_000, **body})


def step(op: str, **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"op": op, "urn": URN, "type": TYPE, "provider": "", **metadata}}


def test_a_resource_step_carries_urn_type_op_and_the_providers_changed_keys() -> None:
    fields = convert(event(resourcePreEvent=step("update", diffs=["content", "mode"])))
    assert fields is not None
    assert fields.kind is EventKind.RESOURCE_STEP
    assert (fields.urn, fields.resource_type, fields.op) == (URN, TYPE, "update")
    assert fields.changed_keys == ("content", "mode")
    assert fields.message == f"update {TYPE} file (content, mode)"


def test_changed_keys_fall_back_to_comparing_inputs_without_internal_keys() -> None:
    old = {"type": TYPE, "urn": URN, "inputs": {"__provider": "a", "path": "/p", "content": "1"}}
    new = {"type": TYPE, "urn": URN, "inputs": {"__provider": "b", "path": "/p", "content": "2"}}
    fields = convert(event(resourcePreEvent=step("update", old=old, new=new)))
    assert fields is not None
    assert fields.changed_keys == ("content",)


def test_a_create_has_no_changed_keys() -> None:
    fields = convert(event(resOutputsEvent=step("create", diffs=["content"])))
    assert fields is not None
    assert fields.kind is EventKind.RESOURCE_DONE
    assert fields.changed_keys == ()


def test_a_failed_step_is_an_error() -> None:
    fields = convert(event(resOpFailedEvent={**step("create"), "status": 1, "steps": 1}))
    assert fields is not None
    assert (fields.kind, fields.severity) == (EventKind.RESOURCE_FAILED, Severity.ERROR)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("info", Severity.INFO),
        ("warning", Severity.WARNING),
        ("error", Severity.ERROR),
        ("info#err", Severity.INFO),
    ],
)
def test_diagnostics_keep_their_severity(severity: str, expected: Severity) -> None:
    body = {"message": "hello\n", "color": "never", "severity": severity, "urn": URN}
    fields = convert(event(diagnosticEvent=body))
    assert fields is not None
    assert (fields.kind, fields.severity, fields.message, fields.urn) == (
        EventKind.DIAGNOSTIC,
        expected,
        "hello",
        URN,
    )


def test_debug_diagnostics_are_dropped() -> None:
    body = {"message": "registering resource", "color": "never", "severity": "debug"}
    assert convert(event(diagnosticEvent=body)) is None


def test_the_summary_counts_changes_by_op() -> None:
    fields = convert(event(summaryEvent={"resourceChanges": {"create": 1, "same": 2}}))
    assert fields is not None
    assert fields.kind is EventKind.SUMMARY
    assert fields.changes == {"create": 1, "same": 2}
    assert fields.message == "create: 1, same: 2"


def test_prelude_output_and_end() -> None:
    kinds = [
        convert(event(preludeEvent={"config": {"token": "[secret]"}})),
        convert(event(stdoutEvent={"message": "Updating\n", "color": "never"})),
        convert(event(cancelEvent={})),
    ]
    assert [f.kind for f in kinds if f] == [EventKind.PRELUDE, EventKind.OUTPUT, EventKind.END]


def test_the_stream_numbers_scrubs_and_remembers_failures() -> None:
    received: list[EngineEventRecord] = []
    stream = EventStream("orders/dev", "up", received.append, Scrubber(["pa55word"]))
    diag = {
        "message": "login with pa55word failed",
        "color": "never",
        "severity": "error",
        "urn": URN,
    }

    stream.on_engine_event(event(diagnosticEvent=diag))
    stream.on_engine_event(event(resOpFailedEvent={**step("create"), "status": 1, "steps": 1}))
    stream.note(EventKind.RECOVERY, "recovery: removed a stale lock", Severity.WARNING)

    assert [r.sequence for r in received] == [1, 2, 3]
    assert received[0].message == "login with [secret] failed"
    assert received[2].kind is EventKind.RECOVERY
    assert stream.facts.failed_urns == [URN]
    assert stream.facts.error_messages == [(URN, "login with [secret] failed")]
    assert received[0].to_dict()["kind"] == "diagnostic"


def test_a_failing_sink_does_not_break_the_stream_and_is_raised_afterwards() -> None:
    def sink(_record: EngineEventRecord) -> None:
        raise RuntimeError("the database is down")

    stream = EventStream("orders/dev", "up", sink, Scrubber())
    stream.note(EventKind.RECOVERY, "one")
    stream.note(EventKind.RECOVERY, "two")

    assert len(stream.records) == 2
    with pytest.raises(RuntimeError, match="database is down"):
        stream.raise_sink_error()


def test_the_scrubber_masks_longer_secrets_first() -> None:
    scrub = Scrubber(["abc", "abcdef", ""])
    assert scrub("x abcdef y abc") == "x [secret] y [secret]"
