"""Component repositories: git mirrors and exports, for any layer that reads sources
(registration by URL, the local target's builds and tag watchers). Below the targets:
imports only the catalog's source rules and Shipyard's process runner."""

from __future__ import annotations

from shipyard.sources.errors import GitError, RepositoryError, SourceRefusedError, TagNotFoundError
from shipyard.sources.git import GitSources, is_local_source, normalize_source

__all__ = [
    "GitError",
    "GitSources",
    "RepositoryError",
    "SourceRefusedError",
    "TagNotFoundError",
    "is_local_source",
    "normalize_source",
]
