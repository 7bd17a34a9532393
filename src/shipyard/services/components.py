"""Register components: read a descriptor (a path or a git URL) with the catalog, check
it against the platform's contract, and record every component it holds.

A path is read only under the folders an admin allowed (``Settings.source_roots``,
``SHIPYARD_SOURCE_ROOTS``): anything else is refused before the server looks at it, so
the refusal says nothing of what is (or is not) there."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from shipyard.catalog import CatalogError, Component, Platform, contract_problems, load_components
from shipyard.catalog.backstage import DescriptorFile, read_descriptor_text
from shipyard.catalog.sources import SourceError, parse_source, within_roots
from shipyard.services.errors import RegistrationError
from shipyard.settings import Settings
from shipyard.sources import GitSources, SourceRefusedError
from shipyard.store import models
from shipyard.store.components import find_component, upsert_component

__all__ = ["DESCRIPTOR_NAMES", "Registered", "components_at_path", "components_at_url", "register"]

DESCRIPTOR_NAMES = ("catalog-info.yaml", "catalog-info.yml")


@dataclass(frozen=True, slots=True)
class Registered:
    component: models.Component
    created: bool


def _descriptor_file(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        for name in DESCRIPTOR_NAMES:
            if (path / name).is_file():
                return path / name
        raise RegistrationError(
            f"{path} holds no {' or '.join(DESCRIPTOR_NAMES)}: add one, or give the "
            "descriptor file itself"
        )
    raise RegistrationError(
        f"{path} does not exist on the server: give a path the server can read "
        "(an absolute path when the server runs elsewhere), or register by git URL"
    )


def _only_components(found: Sequence[Component], where: str) -> list[Component]:
    if not found:
        raise RegistrationError(
            f"{where} holds no 'kind: Component' entity: add one (Backstage's Component "
            "kind) to register it"
        )
    return list(found)


def allowed_path(path: Path, roots: Iterable[Path]) -> Path:
    """``path`` resolved (symlinks too), if it lies under one of ``roots``; else a
    :class:`RegistrationError` that says nothing of what is at the path."""
    roots = list(roots)
    if not roots:
        raise RegistrationError(
            "registering by path is turned off on this server: register by git URL, or ask "
            "an admin to set SHIPYARD_SOURCE_ROOTS (a JSON list of folders the server may "
            "read components from)"
        )
    if not within_roots(path, roots):
        raise RegistrationError(
            f"{path} is outside the folders this server reads components from: register by "
            "git URL, or ask an admin to add its folder to SHIPYARD_SOURCE_ROOTS"
        )
    return path.expanduser().resolve()


def components_at_path(path: Path, roots: Iterable[Path]) -> tuple[list[Component], str]:
    """The components of a descriptor file (or a directory's catalog-info.yaml) under one
    of ``roots``, with the directory they came from as their source; raises
    :class:`CatalogError` on problems, :class:`RegistrationError` outside the roots."""
    descriptor = _descriptor_file(allowed_path(path, roots))
    return _only_components(load_components(descriptor), str(descriptor)), str(descriptor.parent)


def git_sources(settings: Settings) -> GitSources:
    """The server's git mirrors (local repositories only under its source roots)."""
    return GitSources.from_settings(settings)


def components_at_url(url: str, sources: GitSources | Settings) -> tuple[list[Component], str]:
    """The components of ``catalog-info.yaml`` at the default branch of a git repository;
    a URL git would misread (an option, a refused transport) is a :class:`RegistrationError`
    before git runs."""
    try:
        parse_source(url)
    except SourceError as exc:
        raise RegistrationError(f"url: {exc}") from exc
    if isinstance(sources, Settings):
        sources = git_sources(sources)
    try:
        for name in DESCRIPTOR_NAMES:
            text = sources.show(url, name)
            if text is not None:
                found = read_descriptor_text(text, f"{url}:{name}")
                _raise_problems(found)
                return _only_components(found.components, found.file), url
    except SourceRefusedError as exc:
        raise RegistrationError(f"url: {exc}") from exc
    raise RegistrationError(
        f"the default branch of {url} has no {' or '.join(DESCRIPTOR_NAMES)} at its root: "
        "commit one there, or register a path to the descriptor"
    )


def _raise_problems(found: DescriptorFile) -> None:
    if found.problems:
        raise CatalogError(found.problems)


def _check_contract(components: Sequence[Component], platform: Platform) -> None:
    problems = [
        problem
        for component in components
        for found in contract_problems(component, platform).values()
        for problem in found
    ]
    if problems:
        raise CatalogError(dict.fromkeys(problems))


def register(
    session: Session,
    components: Sequence[Component],
    source: str,
    platform: Platform | None = None,
) -> list[Registered]:
    """Record (or update) each component; with a platform, only if all of them satisfy
    its contract in every environment."""
    if platform is not None:
        _check_contract(components, platform)
    registered = []
    for component in components:
        created = find_component(session, component.namespace, component.name) is None
        record = upsert_component(
            session,
            component.namespace,
            component.name,
            descriptor=component.document.data,
            owner=str(component.owner) if component.owner else None,
            template=component.annotations.get("shipyard.dev/template"),
            source=source,
        )
        registered.append(Registered(record, created))
    return registered
