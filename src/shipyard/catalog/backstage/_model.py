"""Backstage entities as Shipyard reads them: every kind kept, Component typed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.catalog._problems import FieldPath, Problem
from shipyard.catalog._yaml import LocatedDocument

__all__ = [
    "ANNOTATION_PREFIX",
    "Component",
    "Entity",
    "EntityRef",
    "InvalidEntityRef",
    "LocationEntity",
]

ANNOTATION_PREFIX = "shipyard.dev/"
DEFAULT_NAMESPACE = "default"
_REF = re.compile(r"^(?:(?P<kind>[^:/]+):)?(?:(?P<namespace>[^:/]+)/)?(?P<name>[^:/]+)$")


class InvalidEntityRef(ValueError):
    """A string that is not ``[kind:][namespace/]name``."""


@dataclass(frozen=True, slots=True, order=True)
class EntityRef:
    """``[kind:][namespace/]name``; kind and namespace compare case-insensitively."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def parse(
        cls, ref: str, *, default_kind: str | None = None, default_namespace: str = "default"
    ) -> EntityRef:
        match = _REF.match(ref.strip())
        if match is None:
            raise InvalidEntityRef(f"{ref!r} is not an entity reference [kind:][namespace/]name")
        kind = match.group("kind") or default_kind
        if kind is None:
            raise InvalidEntityRef(f"{ref!r} needs a kind, e.g. group:{ref}")
        return cls(
            kind.lower(),
            (match.group("namespace") or default_namespace).lower(),
            match.group("name"),
        )

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Entity:
    """Any Backstage entity, with the document it came from (for positions)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    document: LocatedDocument = field(repr=False, compare=False)
    title: str | None = None
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> EntityRef:
        return EntityRef(self.kind.lower(), self.namespace.lower(), self.name)

    @property
    def id(self) -> str:
        """Shipyard's id for a component: ``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def problem(self, path: FieldPath, message: str, hint: str | None = None) -> Problem:
        return self.document.problem(path, message, hint)

    def summary(self) -> dict[str, Any]:
        where = self.document.position(())
        return {
            "file": self.document.file,
            "line": where.line if where else None,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "ref": str(self.ref),
        }


@dataclass(frozen=True)
class Component(Entity):
    """A ``kind: Component``: the deployable unit."""

    type: str = ""
    lifecycle: str = ""
    owner: EntityRef | None = None
    system: EntityRef | None = None
    depends_on: tuple[EntityRef, ...] = ()

    @property
    def shipyard_annotations(self) -> dict[str, str]:
        """``shipyard.dev/*`` annotations with the prefix removed."""
        return {
            key.removeprefix(ANNOTATION_PREFIX): value
            for key, value in self.annotations.items()
            if key.startswith(ANNOTATION_PREFIX)
        }

    def annotation_path(self, key: str) -> FieldPath:
        return ("metadata", "annotations", key)


@dataclass(frozen=True)
class LocationEntity(Entity):
    """A ``kind: Location``: pointers to more descriptor files."""

    targets: tuple[tuple[str, FieldPath], ...] = ()
    location_type: str | None = None
