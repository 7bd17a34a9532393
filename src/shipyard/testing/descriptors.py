"""Checks shared by the tests that judge a folder of Backstage descriptors: the project's
own fixtures (tests/fixtures/backstage) and the opt-in conformance corpus."""

from __future__ import annotations

from pathlib import Path

from shipyard.catalog.backstage import read_descriptor

__all__ = ["Located", "assert_parses", "assert_rejected_with_locations", "located_problems"]

Located = tuple[int | None, int | None, str, str]


def assert_parses(folder: Path, name: str) -> None:
    """``folder/name`` is a valid descriptor: no problem at all."""
    assert read_descriptor(folder / name, name).problems == ()


def assert_rejected_with_locations(folder: Path, name: str) -> None:
    """``folder/name`` is refused, and every problem names its file, line, column and fix."""
    result = read_descriptor(folder / name, name)
    assert result.problems
    for problem in result.problems:
        assert problem.file == name
        assert problem.line is not None and problem.column is not None
        assert problem.message and problem.hint


def located_problems(folder: Path, name: str) -> list[Located]:
    """The problems of ``folder/name`` as (line, column, field path, message)."""
    result = read_descriptor(folder / name, name)
    return [(p.line, p.column, p.path, p.message) for p in result.problems]
