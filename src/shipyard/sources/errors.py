"""Errors of reading component repositories: each says what failed and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.errors import ShipyardError

__all__ = ["GitError", "RepositoryError", "SourceRefusedError", "TagNotFoundError"]


class RepositoryError(ShipyardError):
    """A component's repository could not be read."""


class GitError(RepositoryError):
    """A git command failed; carries its argument list and output."""

    def __init__(self, message: str, *, args: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(message)
        self.command = list(args)
        self.returncode = returncode
        self.output = output


class TagNotFoundError(RepositoryError):
    """The repository has no such tag."""


class SourceRefusedError(RepositoryError):
    """A local repository outside the folders the server allows (``source_roots``)."""
