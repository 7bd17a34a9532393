"""What a component's source may be: the one definition of "is this a git URL".

A source string (``shipyard.dev/source``, ``backstage.io/source-location``, a
registration's ``url``, a tag watcher's repository) is one of:

- a **remote** git URL over a transport Shipyard allows: ``https://``, ``ssh://`` (also
  ``git+ssh://``), ``git://``, or the scp-like ``[user@]host:path`` that git reads as ssh;
- a **local** path (absolute, or relative to the descriptor's directory), which the
  server only reads under the folders an admin allowed (``SHIPYARD_SOURCE_ROOTS``;
  :func:`within_roots`).

Anything else is refused with :class:`SourceError`, before git ever sees it: a value
starting with ``-`` (git would read it as an option: ``-u.@x:;touch /tmp/p;``), control
characters, ``file://``, ``http://``, git's remote helpers (``ext::sh -c ...``,
``fd::3``) and any other scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError

__all__ = [
    "ALLOWED_SCHEMES",
    "Source",
    "SourceError",
    "inside_folder",
    "is_remote",
    "parse_source",
    "within_roots",
]

ALLOWED_SCHEMES = frozenset({"https", "ssh", "git+ssh", "ssh+git", "git"})
"""URL schemes a remote source may use (plus the scp-like ``user@host:path``)."""

_HINT = "use an https://, ssh:// or git:// URL, user@host:path, or a path to a local repository"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.~+-]*)"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_SCP = re.compile(rf"^(?:(?P<user>{_NAME})@)?(?P<host>{_HOST}):(?P<path>.*)$")


class SourceError(ShipyardError, ValueError):
    """A source string that is not an allowed git URL or a local path."""


@dataclass(frozen=True, slots=True)
class Source:
    """A source string, classified: ``remote`` (with its transport) or ``local``."""

    text: str
    kind: Literal["remote", "local"]
    transport: Literal["https", "ssh", "git", "local"]

    @property
    def is_remote(self) -> bool:
        return self.kind == "remote"


def _refuse(text: str, why: str) -> SourceError:
    shown = _CONTROL.sub("?", text)[:200]
    return SourceError(f"source {shown!r} is refused: {why}; {_HINT}")


def _remote_url(text: str, scheme: str) -> Source:
    if scheme not in ALLOWED_SCHEMES:
        why = (
            "file:// reads the server's own files: give the plain path (allowed only under "
            "SHIPYARD_SOURCE_ROOTS)"
            if scheme == "file"
            else f"the {scheme}:// transport is not allowed"
        )
        raise _refuse(text, why)
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError as exc:
        raise _refuse(text, f"it is not a valid URL ({exc})") from exc
    if not host or host.startswith("-") or (parts.username or "").startswith("-"):
        raise _refuse(text, "the URL has no valid host")
    transport: Literal["https", "ssh", "git"] = (
        "https" if scheme == "https" else "git" if scheme == "git" else "ssh"
    )
    return Source(text, "remote", transport)


def parse_source(text: str) -> Source:
    """Classify ``text`` as an allowed remote URL or a local path; raises
    :class:`SourceError` (its message says what is wrong and what to give instead)."""
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"the source is empty; {_HINT}")
    if text != text.strip():
        raise _refuse(text, "it has leading or trailing spaces")
    if _CONTROL.search(text):
        raise _refuse(text, "it holds control characters")
    if text.startswith("-"):
        raise _refuse(text, "it starts with '-', which git would read as an option")
    scheme = _SCHEME.match(text)
    if scheme:
        return _remote_url(text, scheme.group(1).lower())
    if _HELPER.match(text):
        raise _refuse(text, "git remote helpers (transport::address) are not allowed")
    slash, colon = text.find("/"), text.find(":")
    if colon != -1 and (slash == -1 or colon < slash):
        # git reads a colon before the first slash as ssh's scp-like syntax
        scp = _SCP.match(text)
        if scp is None or not scp.group("path"):
            raise _refuse(
                text,
                "git would read it as ssh's user@host:path, and it is not a valid one "
                "(a local path with ':' before its first '/' must start with './')",
            )
        return Source(text, "remote", "ssh")
    return Source(text, "local", "local")


def is_remote(text: str) -> bool:
    """True for an allowed remote URL, False for a local path; raises :class:`SourceError`."""
    return parse_source(text).is_remote


def within_roots(path: Path, roots: Iterable[Path]) -> bool:
    """``path`` (symlinks resolved) lies inside one of ``roots`` (resolved too)."""
    resolved = path.expanduser().resolve()
    return any(resolved.is_relative_to(root.expanduser().resolve()) for root in roots)


def inside_folder(directory: Path, relative: str) -> Path | None:
    """``directory / relative`` with symlinks resolved, if it stays inside ``directory``
    (a file of a component, e.g. its ``shipyard.dev/score-file``); else None."""
    if not relative or "\x00" in relative or Path(relative).is_absolute():
        return None
    try:
        base = directory.resolve()
        candidate = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return candidate if candidate.is_relative_to(base) and candidate != base else None
