"""preview / up / refresh / destroy of a real stack, with the events they stream."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from shipyard.engine import (
    Engine,
    EngineEventRecord,
    EventKind,
    OperationKind,
    StackNotFoundError,
    StackRef,
)
from shipyard.engine.testing import FileResource, file_program
from shipyard.engine.toolchain import PulumiCli
from shipyard.settings import Settings

pytestmark = pytest.mark.integration


def test_up_creates_then_a_second_up_changes_nothing(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    events: list[EngineEventRecord] = []

    first = engine.up(stack_ref, file_program(target, "one"), on_event=events.append)

    assert first.operation is OperationKind.UP
    assert first.changes == {"create": 2}  # the stack and the file
    assert first.changed
    assert target.read_text() == "one"
    assert first.outputs["path"].value == str(target)
    assert first.duration_s > 0
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    created = [e for e in events if e.kind is EventKind.RESOURCE_STEP and e.op == "create"]
    assert any(e.resource_type == "pulumi-python:dynamic:Resource" for e in created)
    assert events[-1].kind is EventKind.END
    assert any(e.kind is EventKind.SUMMARY and e.changes == first.changes for e in events)

    second = engine.up(stack_ref, file_program(target, "one"))

    assert not second.changed
    assert set(second.changes) == {"same"}


def test_each_up_returns_the_outputs_it_set_and_runs_only_the_up_command(
    data_dir: Path, pulumi_cli: PulumiCli, stack_ref: StackRef, tmp_path: Path
) -> None:
    # A CLI that logs each command it runs before running it: what an operator would see
    # in `ps` while a deploy runs.
    calls = tmp_path / "calls.log"
    logging_cli = tmp_path / "bin" / "pulumi"
    logging_cli.parent.mkdir()
    logging_cli.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\nexec {pulumi_cli.path} "$@"\n', encoding="utf-8"
    )
    logging_cli.chmod(0o755)
    cli = PulumiCli(logging_cli, pulumi_cli.version, pulumi_cli.source)
    settings = Settings(data_dir=data_dir, backend_url=None, secrets_provider=None, pulumi=None)
    engine = Engine(settings, cli)
    target = tmp_path / "out.txt"

    for content in ("one", "two", "two"):

        def program(content: str = content) -> None:
            resource = FileResource("file", str(target), content)
            pulumi.export("content", resource.id.apply(lambda _: content))
            pulumi.export("nested", {"words": [content, "and", content], "length": len(content)})

        result = engine.up(stack_ref, program)

        assert result.outputs["content"].value == content
        assert not result.outputs["content"].secret
        assert result.outputs["nested"].value == {
            "words": [content, "and", content],
            "length": len(content),
        }
    assert engine.outputs(stack_ref)["content"].value == "two"  # the CLI agrees

    commands = [line.split()[1:3] for line in calls.read_text().splitlines()]
    # The SDK alone runs `stack output` twice and `stack history` after each up.
    ups = [index for index, command in enumerate(commands) if command[0] == "up"]
    assert len(ups) == 3
    assert ups == list(range(ups[0], ups[0] + 3)), commands  # nothing between them
    assert commands[ups[-1] + 1 :] == [["stack", "output"]] * 2  # engine.outputs() itself


def test_a_changed_input_updates_and_the_events_name_the_changed_key(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    engine.up(stack_ref, file_program(target, "one"))
    events: list[EngineEventRecord] = []

    result = engine.up(stack_ref, file_program(target, "two"), on_event=events.append)

    assert result.changes.get("update") == 1
    assert target.read_text() == "two"
    steps = [e for e in events if e.kind is EventKind.RESOURCE_STEP and e.op == "update"]
    assert len(steps) == 1
    assert steps[0].changed_keys == ("content",)
    assert steps[0].urn is not None and steps[0].urn.endswith("::file")


def test_preview_shows_the_diff_and_changes_nothing(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    engine.up(stack_ref, file_program(target, "one"))
    before = engine.export(stack_ref)
    events: list[EngineEventRecord] = []

    preview = engine.preview(stack_ref, file_program(target, "two"), on_event=events.append)

    assert preview.operation is OperationKind.PREVIEW
    assert preview.changes.get("update") == 1
    assert any(e.op == "update" and e.changed_keys == ("content",) for e in events)
    assert target.read_text() == "one"
    assert engine.export(stack_ref).deployment["resources"] == before.deployment["resources"]


def test_refresh_reads_drift_back_into_the_state(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    engine.up(stack_ref, file_program(target, "one"))
    target.write_text("edited by hand")

    result = engine.refresh(stack_ref)

    assert result.operation is OperationKind.REFRESH
    assert set(result.changes) <= {"same", "update"}
    file_state = next(
        r for r in engine.export(stack_ref).deployment["resources"] if r["urn"].endswith("::file")
    )
    assert file_state["outputs"]["content"] == "edited by hand"


def test_destroy_removes_the_resources(engine: Engine, stack_ref: StackRef, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    engine.up(stack_ref, file_program(target, "one"))

    result = engine.destroy(stack_ref)

    assert result.changes.get("delete", 0) >= 2
    assert not target.exists()
    assert engine.export(stack_ref).resource_urns == ()
    assert engine.outputs(stack_ref) == {}


def test_destroy_with_remove_deletes_the_stack(
    engine: Engine, stack_ref: StackRef, tmp_path: Path
) -> None:
    engine.up(stack_ref, file_program(tmp_path / "out.txt", "one"))

    engine.destroy(stack_ref, remove=True)

    with pytest.raises(StackNotFoundError) as caught:
        engine.outputs(stack_ref)
    assert str(stack_ref) in str(caught.value)


def test_operations_on_a_missing_stack_raise_stack_not_found(
    engine: Engine, stack_ref: StackRef
) -> None:
    with pytest.raises(StackNotFoundError):
        engine.refresh(stack_ref)
    with pytest.raises(StackNotFoundError):
        engine.export(stack_ref)


def test_work_dir_and_passphrase_are_persistent(
    engine: Engine, stack_ref: StackRef, tmp_path: Path, data_dir: Path
) -> None:
    engine.up(stack_ref, file_program(tmp_path / "out.txt", "one"))

    work_dir = data_dir / "stacks" / stack_ref.project / stack_ref.stack
    assert (work_dir / "Pulumi.yaml").is_file()
    passphrase = data_dir / "pulumi-passphrase"
    assert passphrase.stat().st_mode & 0o777 == 0o600
    assert engine.environment["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(passphrase)
    assert engine.environment["PULUMI_HOME"] == str(data_dir / "pulumi-home")
