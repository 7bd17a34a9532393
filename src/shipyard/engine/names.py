"""Stack identity: project = component, stack = environment, as Pulumi-safe names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["StackRef", "pulumi_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_LENGTH = 100


def pulumi_name(raw: str) -> str:
    """A name Pulumi accepts for a project or stack (``[A-Za-z0-9_.-]``, at most 100 chars).

    ``namespace/name`` component ids become ``namespace.name`` (Backstage namespaces hold
    no dots, so this stays one-to-one). Any other change appends a short hash of the raw
    name, so two different raw names never share a stack.
    """
    if not raw:
        raise ValueError("a project or stack name cannot be empty")
    dotted = raw.replace("/", ".", 1) if raw.count("/") == 1 else raw
    safe = _UNSAFE.sub("-", dotted).strip("-.") or "x"
    if safe == dotted and len(safe) <= _MAX_LENGTH:
        return safe
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{safe[: _MAX_LENGTH - 9]}-{digest}"


@dataclass(frozen=True, slots=True)
class StackRef:
    """One Pulumi stack: ``project`` is the component, ``stack`` the environment.

    Build it with :meth:`of` from raw ids; the fields are always Pulumi-safe.
    """

    project: str
    stack: str

    @classmethod
    def of(cls, component: str, environment: str) -> StackRef:
        return cls(pulumi_name(component), pulumi_name(environment))

    def __post_init__(self) -> None:
        for value in (self.project, self.stack):
            if pulumi_name(value) != value:
                raise ValueError(
                    f"{value!r} is not a Pulumi-safe name: build the StackRef with "
                    "StackRef.of(component, environment)"
                )

    def __str__(self) -> str:
        return f"{self.project}/{self.stack}"
