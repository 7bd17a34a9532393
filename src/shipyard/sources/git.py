"""Component sources: git repositories (the URLs :mod:`shipyard.catalog.sources` allows,
and local paths under the configured ``source_roots``), kept as bare mirrors in
``<cache_dir>/git`` and exported at a tag into clean build trees.

Every URL and path reaches git after ``--``, and only once it passed
:func:`~shipyard.catalog.sources.parse_source`, so no source can be read as an option."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import structlog

from shipyard._process import Completed, run_command
from shipyard.catalog.sources import parse_source, within_roots
from shipyard.settings import Settings
from shipyard.sources.errors import GitError, SourceRefusedError, TagNotFoundError

__all__ = ["GitSources", "is_local_source", "normalize_source"]

_TAG_PREFIX = "refs/tags/"
_PEELED = "^{}"

_log = structlog.get_logger(__name__)


def is_local_source(url: str) -> bool:
    """A path on this machine (polled often) rather than a network remote; raises
    :class:`~shipyard.catalog.sources.SourceError` for a source that is neither."""
    return not parse_source(url).is_remote


def normalize_source(url: str) -> str:
    """Local paths become absolute (symlinks resolved), so a mirror does not depend on the
    working directory; raises :class:`~shipyard.catalog.sources.SourceError`."""
    if parse_source(url).is_remote:
        return url
    return str(Path(url).expanduser().resolve())


def _parse_ls_remote(output: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith(_TAG_PREFIX):
            continue
        name = ref.removeprefix(_TAG_PREFIX)
        if name.endswith(_PEELED):
            peeled[name.removesuffix(_PEELED)] = sha
        else:
            tags[name] = sha
    return {name: peeled.get(name, sha) for name, sha in tags.items()}


class GitSources:
    """Bare mirrors of component repositories, one per URL, safe across processes."""

    def __init__(
        self, cache_dir: Path, *, source_roots: Sequence[Path], timeout_s: float = 600.0
    ) -> None:
        self.root = cache_dir / "git"
        self.source_roots = tuple(source_roots)
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> GitSources:
        return cls(settings.cache_dir, source_roots=settings.source_roots)

    def checked(self, url: str) -> str:
        """``url`` normalised, if it is an allowed remote or a local path under the source
        roots; raises :class:`~shipyard.catalog.sources.SourceError` or
        :class:`SourceRefusedError` (which says nothing of what is at the path)."""
        source = normalize_source(url)
        if parse_source(url).is_remote:
            return source
        if not self.source_roots:
            raise SourceRefusedError(
                f"{url!r} is a path on the server, and this server reads no repository from "
                "its own disk: give a git URL (https://, ssh://, git://), or ask an admin to "
                "set SHIPYARD_SOURCE_ROOTS (a JSON list of folders) to allow paths"
            )
        if not within_roots(Path(source), self.source_roots):
            raise SourceRefusedError(
                f"{url!r} is outside the folders this server reads repositories from: give a "
                "git URL, or ask an admin to add its folder to SHIPYARD_SOURCE_ROOTS"
            )
        return source

    def _git(self, args: Sequence[str], *, what: str, cwd: Path | None = None) -> Completed:
        done = run_command(["git", *args], cwd=cwd, timeout=self.timeout_s)
        if not done.ok:
            last = done.output.strip().splitlines()[-1:] or ["(no output)"]
            raise GitError(
                f"{what} failed (git exit {done.returncode}): {last[0]}; check the URL, "
                "that the repository exists and that this machine may read it",
                args=done.args,
                returncode=done.returncode,
                output=done.output,
            )
        return done

    def mirror_path(self, url: str) -> Path:
        source = self.checked(url)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.rstrip("/").rsplit("/", 1)[-1])[:40]
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        return self.root / f"{slug.removesuffix('.git')}-{digest}.git"

    @contextlib.contextmanager
    def _locked(self, mirror: Path) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with mirror.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ls_remote_tags(self, url: str) -> dict[str, str]:
        """Every tag of the repository and the commit it points at (annotated tags peeled)."""
        source = self.checked(url)
        done = self._git(
            ["ls-remote", "--tags", "--", source], what=f"listing the tags of {source}"
        )
        return _parse_ls_remote(done.stdout)

    def fetch(self, url: str) -> Path:
        """Clone the mirror of ``url`` or bring it up to date; returns its path."""
        source = self.checked(url)
        mirror = self.mirror_path(source)
        with self._locked(mirror):
            if mirror.exists():
                self._git(
                    ["--git-dir", str(mirror), "fetch", "--prune", "--quiet", "origin"],
                    what=f"fetching {source}",
                )
            else:
                self._clone(source, mirror)
        return mirror

    def _clone(self, source: str, mirror: Path) -> None:
        _log.info("git.mirror", source=source, mirror=str(mirror))
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".clone-") as tmp:
            staging = Path(tmp) / "mirror.git"
            self._git(
                ["clone", "--mirror", "--quiet", "--", source, str(staging)],
                what=f"cloning {source}",
            )
            staging.rename(mirror)

    def _commit_in(self, mirror: Path, tag: str) -> str | None:
        done = run_command(
            [
                "git",
                "--git-dir",
                str(mirror),
                "rev-parse",
                "--verify",
                "--quiet",
                f"{_TAG_PREFIX}{tag}^{{commit}}",
            ],
            timeout=self.timeout_s,
        )
        return done.stdout.strip() if done.ok else None

    def resolve_tag(self, url: str, tag: str) -> str:
        """The commit ``tag`` points at, fetching the mirror if it does not know the tag."""
        mirror = self.mirror_path(url)
        commit = self._commit_in(mirror, tag) if mirror.exists() else None
        if commit is None:
            self.fetch(url)
            commit = self._commit_in(mirror, tag)
        if commit is None:
            raise TagNotFoundError(
                f"{self.checked(url)} has no tag {tag!r}: push it (`git push origin {tag}`)"
                " or pick one of its tags (`git ls-remote --tags`)"
            )
        return commit

    def export(self, url: str, tag: str, dest: Path) -> str:
        """Write the tree at ``tag`` into ``dest`` (new or empty, no ``.git``); the commit."""
        commit = self.resolve_tag(url, tag)
        mirror = self.mirror_path(url)
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise GitError(
                f"cannot export {tag} into {dest}: the directory is not empty",
                args=[],
                returncode=0,
                output="",
            )
        with tempfile.TemporaryDirectory(prefix="shipyard-export-") as tmp:
            archive = Path(tmp) / "tree.tar"
            self._git(
                ["--git-dir", str(mirror), "archive", "--format=tar", "-o", str(archive), commit],
                what=f"exporting {tag} of {self.checked(url)}",
            )
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
        return commit

    def show(self, url: str, name: str, ref: str = "HEAD") -> str | None:
        """The text of file ``name`` at ``ref`` of the mirror of ``url`` (fetched first);
        None if there is no such file."""
        mirror = self.fetch(url)
        done = run_command(
            ["git", "--git-dir", str(mirror), "show", "--end-of-options", f"{ref}:{name}"],
            timeout=self.timeout_s,
        )
        return done.stdout if done.ok else None

    def remove_mirror(self, url: str) -> None:
        mirror = self.mirror_path(url)
        with self._locked(mirror):
            shutil.rmtree(mirror, ignore_errors=True)
