"""Descriptor files: every document of a file parsed, Locations followed to more files.

A Location target that is missing on disk does not make the Location invalid (Backstage
reports it later, as an ingestion error): it is a warning of the file that names it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shipyard.catalog._problems import CatalogError, Problem
from shipyard.catalog._templating import find_template_marker
from shipyard.catalog._yaml import LocatedFile, load_file, load_text
from shipyard.catalog.backstage._model import Component, Entity, LocationEntity
from shipyard.catalog.backstage._validate import parse_entity

__all__ = [
    "DescriptorFile",
    "load_components",
    "read_catalog",
    "read_descriptor",
    "read_descriptor_text",
]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class DescriptorFile:
    """One descriptor file: the valid entities in it, every problem found, and warnings
    (things to fix that leave the file valid, such as a missing Location target)."""

    file: str
    entities: tuple[Entity, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(entity for entity in self.entities if isinstance(entity, Component))

    @property
    def valid(self) -> bool:
        return not self.problems


def _template_problem(located: LocatedFile) -> Problem | None:
    marker = find_template_marker(located.text)
    if marker is None:
        return None
    where, text = marker
    starts = [(doc.position(()), doc) for doc in located.documents]
    owner = None
    for start, doc in starts:
        if start is not None and start.line <= where.line:
            owner = doc
    if (
        owner is not None
        and not located.problems
        and isinstance(owner.data, dict)
        and (owner.data.get("kind") == "Template")
    ):
        return None  # a scaffolder Template entity carries ${{ }} in its steps by design
    return Problem(
        located.file,
        where.line,
        where.column,
        "",
        f"this file is a template, not a catalog descriptor: it contains {text!r}",
        "render the template (e.g. create a component from it in Backstage) and validate "
        "the catalog-info.yaml it produces",
    )


def _parse(located: LocatedFile) -> DescriptorFile:
    entities: list[Entity] = []
    problems = list(located.problems)
    for doc in located.documents:
        entity, found = parse_entity(doc)
        problems.extend(found)
        if entity is not None:
            entities.append(entity)
    # Template syntax explains the problems of an unrendered skeleton better than they do
    # themselves; in a file that is valid anyway (a description quoting "{{ }}"), Backstage
    # accepts it and so does Shipyard.
    template = _template_problem(located) if problems else None
    if template is not None:
        return DescriptorFile(located.file, (), (template,))
    return DescriptorFile(located.file, tuple(entities), tuple(problems))


def read_descriptor_text(
    text: str | bytes, file: str, directory: Path | None = None
) -> DescriptorFile:
    return _parse(load_text(text, file, directory))


def read_descriptor(path: Path, display: str | None = None) -> DescriptorFile:
    """Parse and validate every document of one descriptor file (no Location following)."""
    return _parse(load_file(path, display))


def _targets(location: LocationEntity) -> Iterable[tuple[Path, Problem]]:
    directory = location.document.directory
    for target, path in location.targets:
        if _URL.match(target) or directory is None:
            continue  # remote targets are the catalog's job, not a file check's
        local = directory / target.removeprefix("file:")
        missing = location.problem(
            path,
            f"Location target {target!r} does not exist",
            "fix the path (relative to this file) or remove the target; Backstage accepts "
            "the Location and reports the missing file when it reads it",
        )
        yield local, missing


def read_catalog(paths: Iterable[Path], *, follow_locations: bool = True) -> list[DescriptorFile]:
    """Read descriptor files, following Location targets that are local files (a missing
    one is a warning of the file that names it)."""
    pending = [(path, str(path)) for path in paths]
    seen: set[Path] = set()
    results: list[DescriptorFile] = []
    while pending:
        path, display = pending.pop(0)
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        result = read_descriptor(path, display)
        missing: list[Problem] = []
        for entity in result.entities if follow_locations else ():
            if not isinstance(entity, LocationEntity):
                continue
            for target, not_found in _targets(entity):
                if target.is_file():
                    pending.append((target, _display(target, path, display)))
                else:
                    missing.append(not_found)
        results.append(
            DescriptorFile(result.file, result.entities, result.problems, tuple(missing))
        )
    return results


def _display(target: Path, origin: Path, origin_display: str) -> str:
    relative = target.relative_to(origin.parent) if target.is_relative_to(origin.parent) else None
    if relative is None:
        return str(target)
    return str(Path(origin_display).parent / relative)


def load_components(path: Path) -> list[Component]:
    """Every Component reachable from ``path``; raises :class:`CatalogError` on any problem."""
    files = read_catalog([path])
    problems = [problem for file in files for problem in file.problems]
    if problems:
        raise CatalogError(problems)
    return [component for file in files for component in file.components]
