"""Located problems: what is wrong, where (file, line, column, field path) and how to fix it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.errors import ShipyardError

__all__ = ["CatalogError", "FieldPath", "Position", "Problem", "format_path"]

FieldPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: FieldPath) -> str:
    """``("metadata", "annotations", "a/b", 0)`` -> ``metadata.annotations["a/b"][0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input; ``line``/``column`` are None only without a position."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        text = (
            f"{self.location()} {self.path}: {self.message}"
            if self.path
            else (f"{self.location()}: {self.message}")
        )
        return f"{text} (hint: {self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sort_key(problem: Problem) -> tuple[str, int, int]:
    return (problem.file, problem.line or 0, problem.column or 0)


class CatalogError(ShipyardError):
    """Every problem found in one or more inputs, reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(sorted(problems, key=_sort_key))
        lines = [str(problem) for problem in self.problems]
        count = len(lines)
        header = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__("\n".join([header, *lines]))
