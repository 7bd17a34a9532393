"""The only code that drives Pulumi: inline programs through the Automation API.

Build an :class:`Engine` (``Engine.from_settings()``), name stacks with
:meth:`StackRef.of` (project = component, stack = environment), and run
``preview``/``up``/``refresh``/``destroy``; events stream to an ``on_event`` callback
as :class:`EngineEventRecord` values; failures raise the typed errors of
:mod:`shipyard.engine.errors`.
"""

from shipyard.engine._stack import warm_up_program_server
from shipyard.engine.cancel import CancelToken
from shipyard.engine.engine import ConfigValue, Engine, Program
from shipyard.engine.errors import (
    EngineError,
    OperationCancelledError,
    ProgramError,
    PulumiCommandError,
    ResourceError,
    StackLockedError,
    StackNotFoundError,
)
from shipyard.engine.events import EngineEventRecord, EventKind, EventSink, Severity
from shipyard.engine.names import StackRef, pulumi_name
from shipyard.engine.results import OperationKind, OperationResult, StackExport, StackOutput

__all__ = [
    "CancelToken",
    "ConfigValue",
    "Engine",
    "EngineError",
    "EngineEventRecord",
    "EventKind",
    "EventSink",
    "OperationCancelledError",
    "OperationKind",
    "OperationResult",
    "Program",
    "ProgramError",
    "PulumiCommandError",
    "ResourceError",
    "Severity",
    "StackExport",
    "StackLockedError",
    "StackNotFoundError",
    "StackOutput",
    "StackRef",
    "pulumi_name",
    "warm_up_program_server",
]
