"""The target port: what every target (``local``, ``gcp``) supplies for a component.

A target turns a resolved :class:`~shipyard.catalog.DesiredState` (plus the release to
run, if any) into a Pulumi program the engine runs, builds an image for a git ref, and
runs its trigger for a tag. Everything else (queues, records, rollback policy) lives
above it; adding a target touches ``targets/`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shipyard.catalog.state import DesiredState
from shipyard.engine import Program

__all__ = ["OnLine", "Release", "Target"]

OnLine = Callable[[str], None]
"""Receives a build's log, one line at a time."""


@dataclass(frozen=True, slots=True)
class Release:
    """An image built from a component's repository at a tag: what a deployment runs."""

    tag: str
    image: str
    """The image's name, e.g. ``localhost/default/greeter:v1``."""
    digest: str
    """The registry's digest when pushed, else the image's content id; immutable."""
    commit: str | None = None


class Target(Protocol):
    """Where components run; ``name`` is the ``target`` of a platform environment."""

    @property
    def name(self) -> str: ...

    def program(self, desired: DesiredState, release: Release | None) -> Program:
        """The stack's program: the registry, trigger and route always; the service once
        there is a ``release`` to run."""
        ...

    def build(self, desired: DesiredState, ref: str, *, on_line: OnLine | None = None) -> Release:
        """Build the component's image at ``ref`` (a tag), whether or not one exists."""
        ...

    def run_trigger(
        self, desired: DesiredState, tag: str, *, on_line: OnLine | None = None
    ) -> Release:
        """The release for ``tag``: the image already built for it, else the trigger's build."""
        ...
