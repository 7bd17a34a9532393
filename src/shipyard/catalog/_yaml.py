"""Located YAML: plain Python values plus the line and column of every node.

Documents are composed with ruamel.yaml (YAML 1.2) and converted by hand, so that every
node keeps its position, aliases cannot expand into a bomb, and no input raises anything
but a located :class:`Problem`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shipyard.catalog._problems import FieldPath, Position, Problem, format_path

__all__ = ["LocatedDocument", "LocatedFile", "load_file", "load_text", "one_document"]

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 100

_T = TypeVar("_T")

_TAG = "tag:yaml.org,2002:"
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}


@dataclass(frozen=True)
class LocatedDocument:
    """One YAML document: ``data`` as plain values, positions keyed by field path."""

    file: str
    data: Any
    positions: dict[FieldPath, Position] = field(default_factory=dict)
    key_positions: dict[FieldPath, Position] = field(default_factory=dict)
    directory: Path | None = None
    index: int = 0

    def position(self, path: FieldPath) -> Position | None:
        """The position of ``path``'s value, or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None

    def key_position(self, path: FieldPath) -> Position | None:
        """Where the key of ``path`` is written (falls back to the value's position)."""
        return self.key_positions.get(path) or self.position(path)

    def problem(
        self, path: FieldPath, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> Problem:
        where = self.key_position(path) if at_key else self.position(path)
        return Problem(
            file=self.file,
            line=where.line if where else None,
            column=where.column if where else None,
            path=format_path(path),
            message=message,
            hint=hint,
        )


@dataclass(frozen=True)
class LocatedFile:
    """A parsed file: its documents (empty ones dropped) and the problems met reading it."""

    file: str
    text: str
    documents: tuple[LocatedDocument, ...]
    problems: tuple[Problem, ...]


def one_document(
    located: LocatedFile,
    build: Callable[[LocatedDocument], tuple[_T | None, list[Problem]]],
    *,
    empty: tuple[str, str],
    extra: tuple[str, str],
    every_extra: bool = True,
) -> tuple[_T | None, list[Problem]]:
    """What ``build`` makes of a file that must hold one document, or None and every
    problem: the file's, ``empty`` (message, hint) for a file without documents,
    ``extra`` at each further document (only the second without ``every_extra``), the
    build's."""
    problems = list(located.problems)
    if not located.documents:
        if not problems:
            problems.append(Problem(located.file, None, None, "", *empty))
        return None, problems
    extras = located.documents[1:] if every_extra else located.documents[1:2]
    problems += [document.problem((), *extra) for document in extras]
    built, found = build(located.documents[0])
    return (None if problems else built), problems + found


class _Limit(Exception):
    """Raised inside the converter when a document is too big or too deep."""

    def __init__(self, node: Node, message: str, hint: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint


def _position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag) or "")


def _scalar(node: ScalarNode) -> Any:
    text = str(node.value)
    if node.style == ">":  # ruamel's composer marks a folded scalar's folds with \a
        text = text.replace("\a", "")
    tag = _tag(node)
    if not tag.startswith(_TAG):
        return text
    kind = tag.removeprefix(_TAG)
    if kind == "null" and text in _NULLS:
        return None
    if kind == "bool":
        if text in _TRUES:
            return True
        if text in _FALSES:
            return False
    if kind == "int":
        return _to_int(text)
    if kind == "float":
        return _to_float(text)
    return text


def _to_int(text: str) -> int | str:
    cleaned = text.replace("_", "")
    for base in (0, 10):
        try:
            return int(cleaned, base)
        except ValueError:
            continue
    return text


def _to_float(text: str) -> float | str:
    lowered = text.lower().replace("_", "")
    if lowered.lstrip("+-") in {".inf", ".nan"}:
        return text  # not JSON: kept as the string written
    try:
        value = float(lowered)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _key_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Converter:
    def __init__(self, document: LocatedDocument) -> None:
        self.doc = document
        self.nodes = 0
        self.problems: list[Problem] = []

    def convert(self, node: Node, path: FieldPath, stack: tuple[int, ...] = ()) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Limit(
                node,
                f"the document expands to more than {MAX_NODES} nodes",
                "remove repeated aliases (*name); a descriptor is a few dozen lines",
            )
        if len(path) > MAX_DEPTH:
            raise _Limit(
                node, f"the document nests deeper than {MAX_DEPTH} levels", "flatten the structure"
            )
        if id(node) in stack:
            raise _Limit(node, "an alias refers to itself", "remove the recursive alias")
        self.doc.positions.setdefault(path, _position(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        inner = (*stack, id(node))
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*path, i), inner) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, inner)
        return None

    def _mapping(self, node: MappingNode, path: FieldPath, stack: tuple[int, ...]) -> Any:
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and _tag(key_node) == _TAG + "merge":
                merges.extend(
                    value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                )
                continue
            if not isinstance(key_node, ScalarNode):
                raise _Limit(
                    key_node,
                    "a mapping key must be a plain scalar, not a mapping or a list",
                    "write the key as a string",
                )
            key = _key_text(_scalar(key_node))
            if key in result:
                where = _position(key_node)
                self.problems.append(
                    Problem(
                        self.doc.file,
                        where.line,
                        where.column,
                        format_path((*path, key)),
                        f"duplicate key {key!r}",
                        "keep one of the two entries",
                    )
                )
                continue
            self.doc.key_positions.setdefault((*path, key), _position(key_node))
            result[key] = self.convert(value_node, (*path, key), stack)
        for merged in merges:
            if not isinstance(merged, MappingNode):
                raise _Limit(
                    merged, "a merge key (<<) must refer to a mapping", "merge only mappings"
                )
            for key, value in self._mapping(merged, path, (*stack, id(merged))).items():
                result.setdefault(key, value)
        return result


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    if len(raw) > MAX_BYTES:
        return None, Problem(
            file,
            None,
            None,
            "",
            f"the file is larger than {MAX_BYTES} bytes",
            "a descriptor is a few kilobytes; is this the right file?",
        )
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(
            file,
            line,
            column,
            "",
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        )


def _yaml_problem(exc: YAMLError, file: str) -> Problem:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    else:
        what, line, column = str(exc).strip().splitlines()[0] or "invalid YAML", None, None
    hint = (
        "indent with spaces, not tabs"
        if "\\t" in what or "tab" in what
        else ("check the indentation and quoting around this line")
    )
    return Problem(file, line, column, "", f"invalid YAML: {what}", hint)


def _documents(text: str, file: str, directory: Path | None) -> Iterator[LocatedDocument | Problem]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    index = 0
    try:
        for root in yaml.compose_all(text):
            if root is None:
                continue
            doc = LocatedDocument(file=file, data=None, directory=directory, index=index)
            index += 1
            converter = _Converter(doc)
            try:
                data = converter.convert(root, ())
            except _Limit as limit:
                where = _position(limit.node)
                yield Problem(file, where.line, where.column, "", limit.message, limit.hint)
                continue
            yield from converter.problems
            if data is None:
                continue
            yield LocatedDocument(file, data, doc.positions, doc.key_positions, directory, index)
    except YAMLError as exc:
        yield _yaml_problem(exc, file)
    except RecursionError:
        yield Problem(
            file, None, None, "", "the YAML nests too deeply to read", "flatten the structure"
        )


def load_text(text: str | bytes, file: str, directory: Path | None = None) -> LocatedFile:
    """Compose ``text`` (bytes are decoded as UTF-8 first); problems are returned."""
    if isinstance(text, bytes):
        decoded, failure = _decode(text, file)
        if decoded is None:
            return LocatedFile(file, "", (), (failure,) if failure else ())
        text = decoded
    documents: list[LocatedDocument] = []
    problems: list[Problem] = []
    for item in _documents(text, file, directory):
        if isinstance(item, Problem):
            problems.append(item)
        else:
            documents.append(item)
    return LocatedFile(file, text, tuple(documents), tuple(problems))


def load_file(path: Path, display: str | None = None) -> LocatedFile:
    """Read and compose ``path``; problems (unreadable, not UTF-8, bad YAML) are returned."""
    file = display if display is not None else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        problem = Problem(
            file,
            None,
            None,
            "",
            f"cannot read the file: {reason}",
            "check the path and its permissions",
        )
        return LocatedFile(file, "", (), (problem,))
    return load_text(raw, file, path.parent)
