"""Small Python dynamic-provider resources: for tests, the demo and the benchmark.

They live in the package (not under ``tests/``) because Pulumi pickles a dynamic
provider by reference: the provider process (``python -m pulumi.dynamic``) must be
able to import this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi import Input, ResourceOptions
from pulumi.dynamic import (
    CreateResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

__all__ = ["FailingResource", "FileResource", "GatedFileResource", "file_program"]

_GATE_DEADLINE_S = 600.0
_GATE_POLL_S = 0.05


class _FileProvider(ResourceProvider):
    """A text file on disk; its id is its path. Create adopts a file already there."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(props)
        return CreateResult(id_=str(props["path"]), outs=_outs(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(id_)
        if not path.is_file():
            return ReadResult(None, {})
        return ReadResult(id_, {**_outs(props), "content": path.read_text()})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write(news)
        return UpdateResult(outs=_outs(news))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        Path(id_).unlink(missing_ok=True)


class _GatedFileProvider(_FileProvider):
    """Like a file, but ``create`` first touches ``started`` and waits for ``gate`` to exist."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        Path(props["started"]).touch()
        deadline = time.monotonic() + _GATE_DEADLINE_S
        while not Path(props["gate"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate file {props['gate']} never appeared")
            time.sleep(_GATE_POLL_S)
        return super().create(props)


class _FailingProvider(ResourceProvider):
    """A resource whose create always fails with ``message``."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        raise RuntimeError(str(props["message"]))


def _write(props: dict[str, Any]) -> None:
    path = Path(props["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(props["content"]))


def _outs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("__")}


class FileResource(Resource):
    """A file at ``path`` holding ``content``."""

    def __init__(
        self,
        name: str,
        path: Input[str],
        content: Input[str],
        opts: ResourceOptions | None = None,
    ) -> None:
        super().__init__(_FileProvider(), name, {"path": path, "content": content}, opts)


class GatedFileResource(Resource):
    """A file whose create touches ``started``, then waits until ``gate`` exists."""

    def __init__(
        self,
        name: str,
        path: Input[str],
        content: Input[str],
        gate: Input[str],
        started: Input[str],
        opts: ResourceOptions | None = None,
    ) -> None:
        props = {"path": path, "content": content, "gate": gate, "started": started}
        super().__init__(_GatedFileProvider(), name, props, opts)


class FailingResource(Resource):
    """A resource whose create raises ``RuntimeError(message)`` in the provider."""

    def __init__(self, name: str, message: Input[str], opts: ResourceOptions | None = None) -> None:
        super().__init__(_FailingProvider(), name, {"message": message}, opts)


def file_program(path: Path, content: str) -> Callable[[], None]:
    """An inline program of one :class:`FileResource` at ``path``; it exports the file's
    ``path`` and ``content``."""

    def program() -> None:
        resource = FileResource("file", str(path), content)
        pulumi.export("path", resource.id)
        pulumi.export("content", content)

    return program
