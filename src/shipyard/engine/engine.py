"""The engine: inline Pulumi programs on per-stack work dirs, one operation per stack."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pulumi import automation as auto
from pulumi.automation import errors as sdk_errors
from semver import VersionInfo

from shipyard._files import ensure_private_dir
from shipyard.engine import _recovery
from shipyard.engine._convert import EventStream, Scrubber
from shipyard.engine._environment import (
    base_environment,
    ensure_passphrase_file,
    pulumi_variables,
)
from shipyard.engine._process import OperationControl, TrackedPulumiCommand
from shipyard.engine._program import Program, capturing, no_program
from shipyard.engine._stack import SdkStack, open_stack
from shipyard.engine.cancel import CancelToken
from shipyard.engine.errors import FailureFacts, translate_command_error
from shipyard.engine.events import EventKind, EventSink, Severity
from shipyard.engine.names import StackRef
from shipyard.engine.results import OperationKind, OperationResult, StackExport, StackOutput
from shipyard.engine.toolchain import PulumiCli, ensure_pulumi, write_dynamic_provider_plugin
from shipyard.settings import Settings

__all__ = ["ConfigValue", "Engine", "Program"]

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")
_Action = Callable[[Any, Program | None, EventStream], Any]


@dataclass(frozen=True, slots=True)
class ConfigValue:
    """A stack config value; a secret one is encrypted in the state and scrubbed from events."""

    value: str
    secret: bool = False

    def __repr__(self) -> str:
        shown = "[secret]" if self.secret else repr(self.value)
        return f"ConfigValue(value={shown}, secret={self.secret})"


@dataclass(slots=True)
class _Handle:
    stack: SdkStack
    command: TrackedPulumiCommand


class Engine:
    """Runs preview, up, refresh and destroy of inline programs; the only Pulumi driver.

    - One persistent work dir per stack: ``<data_dir>/stacks/<project>/<stack>``.
    - State in ``settings.state_backend_url``; secrets with ``settings.secrets_provider``
      or a passphrase generated once into ``<data_dir>/pulumi-passphrase`` (0600).
    - Every CLI run gets an explicit environment (see ``_environment``).
    - At most one operation per stack at a time in this process; other stacks run in
      parallel from other threads.
    - Before each operation, crash recovery clears locks of dead local processes and
      resolves pending operations, each with a ``recovery`` event.
    - ``CancelToken.cancel()`` or :meth:`cancel` stops a running operation gracefully.
    """

    def __init__(
        self,
        settings: Settings,
        cli: PulumiCli,
        *,
        cancel_grace_s: float = 30.0,
        second_grace_s: float = 15.0,
    ) -> None:
        self.cli = cli
        self.data_dir = settings.data_dir.expanduser().resolve()
        self.backend_url = settings.state_backend_url
        self._secrets_provider = settings.secrets_provider or "passphrase"
        self._cancel_grace_s = cancel_grace_s
        self._second_grace_s = second_grace_s
        self._file_root = _recovery.file_backend_root(self.backend_url)
        if self._file_root is not None:
            ensure_private_dir(self._file_root)
        passphrase = None if settings.secrets_provider else ensure_passphrase_file(self.data_dir)
        shim_dir = self.data_dir / "bin"
        write_dynamic_provider_plugin(shim_dir)
        self.pulumi_home = self.data_dir / "pulumi-home"
        self._variables = pulumi_variables(
            pulumi_home=self.pulumi_home,
            backend_url=self.backend_url,
            path_dirs=(cli.bin_dir, shim_dir),
            passphrase_file=passphrase,
        )
        self._base_env = base_environment(self.backend_url, settings.secrets_provider)
        self._cli_version = VersionInfo.parse(cli.version)  # checked by the toolchain
        self._registry = threading.Lock()
        self._stack_locks: dict[StackRef, threading.Lock] = {}
        self._handles: dict[StackRef, _Handle] = {}
        self._active: dict[StackRef, OperationControl] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: float) -> Engine:
        """An engine on the resolved Pulumi CLI (built into the cache when none is found)."""
        resolved = settings or Settings()
        return cls(resolved, ensure_pulumi(resolved), **options)

    @property
    def environment(self) -> Mapping[str, str]:
        """The variables every CLI run gets on top of the allow-listed base (no secrets)."""
        return dict(self._variables)

    def work_dir(self, ref: StackRef) -> Path:
        return self.data_dir / "stacks" / ref.project / ref.stack

    # -- operations -------------------------------------------------------------------

    def up(
        self,
        ref: StackRef,
        program: Program,
        *,
        config: Mapping[str, ConfigValue] | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Create or update the stack's resources to match ``program``."""

        def action(stack: Any, wrapped: Program | None, stream: EventStream) -> Any:
            return stack.up(
                program=wrapped,
                on_event=stream.on_engine_event,
                color="never",
                show_secrets=False,
            )

        return self._operate(ref, OperationKind.UP, program, config, on_event, cancel, action)

    def preview(
        self,
        ref: StackRef,
        program: Program,
        *,
        config: Mapping[str, ConfigValue] | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """What an ``up`` would change; changes nothing."""

        def action(stack: Any, wrapped: Program | None, stream: EventStream) -> Any:
            return stack.preview(program=wrapped, on_event=stream.on_engine_event, color="never")

        return self._operate(ref, OperationKind.PREVIEW, program, config, on_event, cancel, action)

    def refresh(
        self,
        ref: StackRef,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Read the real resources back into the state."""

        def action(stack: Any, _wrapped: Program | None, stream: EventStream) -> Any:
            return stack.refresh(on_event=stream.on_engine_event, color="never", show_secrets=False)

        return self._operate(ref, OperationKind.REFRESH, None, None, on_event, cancel, action)

    def destroy(
        self,
        ref: StackRef,
        *,
        remove: bool = False,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Delete every resource of the stack; ``remove`` also deletes the stack itself."""

        def action(stack: Any, _wrapped: Program | None, stream: EventStream) -> Any:
            return stack.destroy(
                on_event=stream.on_engine_event,
                color="never",
                show_secrets=False,
                remove=remove,
            )

        try:
            return self._operate(ref, OperationKind.DESTROY, None, None, on_event, cancel, action)
        finally:
            if remove:
                self._forget(ref)

    def outputs(self, ref: StackRef) -> dict[str, StackOutput]:
        """The stack's outputs from its last ``up``."""
        raw = self._simple(ref, "stack output", lambda stack: stack.outputs())
        return {name: StackOutput(out.value, bool(out.secret)) for name, out in raw.items()}

    def export(self, ref: StackRef) -> StackExport:
        """The stack's state (``pulumi stack export``; secrets stay encrypted)."""
        exported = self._simple(ref, "stack export", lambda stack: stack.export_stack())
        return StackExport(ref, int(exported.version), dict(exported.deployment))

    def import_state(self, ref: StackRef, state: StackExport) -> None:
        """Replace the stack's state (``pulumi stack import``), e.g. to repair it by hand."""
        deployment = auto.Deployment(version=state.version, deployment=dict(state.deployment))
        self._simple(ref, "stack import", lambda stack: stack.import_stack(deployment))

    def cancel(self, ref: StackRef) -> bool:
        """Cancel the operation running on ``ref``; False when none is running."""
        with self._registry:
            control = self._active.get(ref)
        if control is None:
            return False
        control.cancel()
        return True

    # -- the machinery ----------------------------------------------------------------

    def _operate(
        self,
        ref: StackRef,
        kind: OperationKind,
        program: Program | None,
        config: Mapping[str, ConfigValue] | None,
        on_event: EventSink | None,
        cancel: CancelToken | None,
        action: _Action,
    ) -> OperationResult:
        scrub = Scrubber(c.value for c in (config or {}).values() if c.secret)
        stream = EventStream(str(ref), kind.value, on_event, scrub)
        control = OperationControl(
            lambda text: stream.note(EventKind.CANCEL, text, Severity.WARNING),
            self._cancel_grace_s,
            self._second_grace_s,
        )
        log = _log.bind(stack_ref=str(ref), operation=kind.value)
        started = time.monotonic()
        unsubscribe = cancel.subscribe(control.cancel) if cancel is not None else None
        try:
            with self._exclusive(ref, control):
                wrapped = capturing(program, stream.facts, scrub) if program else None
                create = kind in (OperationKind.UP, OperationKind.PREVIEW)
                log.info("operation started")
                with self._translated(ref, kind.value, stream.facts, scrub, control):
                    handle = self._handle(ref, create, control)
                    recovered = self._recover(handle, ref, stream)
                    if config:
                        handle.stack.set_all_config(_sdk_config(config))
                    stream.begin_command()  # a recovery's refresh may have ended one
                    handle.stack.events = stream
                    try:
                        sdk_result = action(handle.stack, wrapped, stream)
                    finally:
                        handle.stack.events = None
        finally:
            if unsubscribe is not None:
                unsubscribe()
            control.wait_cancelled()
        stream.raise_sink_error()
        result = OperationResult(
            stack=ref,
            operation=kind,
            changes=stream.summary_changes or _sdk_changes(sdk_result),
            outputs=_outputs(getattr(sdk_result, "outputs", None)),
            duration_s=time.monotonic() - started,
            events=tuple(stream.records),
            recovered=recovered,
        )
        log.info(
            "operation succeeded",
            changes=dict(result.changes),
            duration_s=round(result.duration_s, 3),
        )
        return result

    def _simple(self, ref: StackRef, what: str, fn: Callable[[Any], _T]) -> _T:
        control = OperationControl(lambda _text: None, self._cancel_grace_s, self._second_grace_s)
        with (
            self._exclusive(ref, control),
            self._translated(ref, what, FailureFacts(), Scrubber(), control),
        ):
            return fn(self._handle(ref, False, control).stack)

    @contextlib.contextmanager
    def _exclusive(self, ref: StackRef, control: OperationControl) -> Iterator[None]:
        """Hold the stack's in-process lock; register ``control`` for :meth:`cancel`."""
        with self._registry:
            lock = self._stack_locks.setdefault(ref, threading.Lock())
        with lock:
            with self._registry:
                self._active[ref] = control
            try:
                yield
            finally:
                with self._registry:
                    self._active.pop(ref, None)

    @contextlib.contextmanager
    def _translated(
        self,
        ref: StackRef,
        operation: str,
        facts: FailureFacts,
        scrub: Scrubber,
        control: OperationControl,
    ) -> Iterator[None]:
        try:
            yield
        except sdk_errors.CommandError as exc:
            if isinstance(exc, sdk_errors.StackNotFoundError):
                self._forget(ref)
            facts.cancel_escalation = control.escalation
            error = translate_command_error(
                exc,
                stack=ref,
                operation=operation,
                backend=self.backend_url,
                facts=facts,
                scrub=scrub,
            )
            _log.warning(
                "operation failed",
                stack_ref=str(ref),
                operation=operation,
                error=type(error).__name__,
            )
            raise error from None

    def _handle(self, ref: StackRef, create: bool, control: OperationControl) -> _Handle:
        """The stack's workspace, made once per process (one ``stack select``)."""
        with self._registry:
            handle = self._handles.get(ref)
        if handle is None:
            command = TrackedPulumiCommand(str(self.cli.path), self._cli_version, self._base_env)
            command.control = control
            handle = _Handle(self._open(ref, command, create), command)
            with self._registry:
                self._handles[ref] = handle
        handle.command.control = control
        return handle

    def _open(self, ref: StackRef, command: TrackedPulumiCommand, create: bool) -> SdkStack:
        work_dir = self.work_dir(ref)
        work_dir.mkdir(parents=True, exist_ok=True)
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=str(self.pulumi_home),
            env_vars=self._variables,
            secrets_provider=self._secrets_provider,
            project_settings=auto.ProjectSettings(
                name=ref.project,
                runtime="python",
                main=str(work_dir),
                backend=auto.ProjectBackend(url=self.backend_url),
            ),
            pulumi_command=command,
        )
        options.program = no_program
        root = self._file_root
        workspace = _Workspace(
            lambda name: (
                root is not None and name == ref.stack and _recovery.state_exists(root, ref)
            ),
            **options.__dict__,
        )
        return open_stack(ref.stack, workspace, create=create)

    def _forget(self, ref: StackRef) -> None:
        with self._registry:
            self._handles.pop(ref, None)

    def _recover(self, handle: _Handle, ref: StackRef, stream: EventStream) -> tuple[str, ...]:
        """Clear stale local locks and pending operations; one recovery event per step."""
        notes: list[str] = []

        def note(message: str) -> None:
            notes.append(message)
            stream.note(EventKind.RECOVERY, message, Severity.WARNING)
            _log.warning(message, stack_ref=str(ref))

        if self._file_root is not None:
            for lock in _recovery.find_locks(self._file_root, ref):
                if _recovery.is_stale(lock):
                    lock.path.unlink(missing_ok=True)
                    note(
                        f"recovery: removed the stale lock of {lock.describe()}: "
                        "that process no longer exists"
                    )
            pending = _recovery.read_pending(self._file_root, ref)
        else:
            exported = handle.stack.export_stack()
            pending = _recovery.pending_in_deployment(exported.deployment or {})
        if pending:
            listed = "; ".join(p.describe() for p in pending)
            note(
                f"recovery: {len(pending)} pending operation(s) left by an interrupted "
                f"update: {listed}"
            )
            self._resolve_pending(handle, pending, stream)
            note(
                "recovery: pending operations resolved (dropped from the state, then a "
                "refresh read the real resources back)"
            )
        return tuple(notes)

    def _resolve_pending(
        self,
        handle: _Handle,
        pending: list[_recovery.PendingOperation],
        stream: EventStream,
    ) -> None:
        stack = handle.stack
        if any(p.kind != "creating" for p in pending):
            exported = stack.export_stack()
            repaired = _recovery.without_pending(exported.deployment or {})
            stack.import_stack(auto.Deployment(version=exported.version, deployment=repaired))
        stack.refresh(
            clear_pending_creates=True,
            on_event=stream.on_engine_event,
            color="never",
            show_secrets=False,
        )


class _Workspace(auto.LocalWorkspace):
    """A ``LocalWorkspace`` that selects a stack the ``file://`` backend already holds
    without ``pulumi stack select``: every stack command names its stack (``--stack``),
    so selecting it would only cost a CLI run (0.1-0.2 s) in each job's process."""

    def __init__(self, exists: Callable[[str], bool], **options: Any) -> None:
        super().__init__(**options)
        self._exists = exists

    def select_stack(self, stack_name: str) -> None:
        if not self._exists(stack_name):
            super().select_stack(stack_name)


def _sdk_config(config: Mapping[str, ConfigValue]) -> dict[str, auto.ConfigValue]:
    return {key: auto.ConfigValue(value=c.value, secret=c.secret) for key, c in config.items()}


def _sdk_changes(sdk_result: Any) -> dict[str, int]:
    changes = getattr(sdk_result, "change_summary", None)
    summary = getattr(sdk_result, "summary", None)
    if changes is None and summary is not None:
        changes = summary.resource_changes
    return {str(getattr(op, "value", op)): int(n) for op, n in (changes or {}).items()}


def _outputs(raw: Mapping[str, Any] | None) -> dict[str, StackOutput]:
    return {name: StackOutput(out.value, bool(out.secret)) for name, out in (raw or {}).items()}
