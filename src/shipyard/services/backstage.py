"""Sync components from a Backstage catalog API: every ``kind: Component`` carrying
``shipyard.dev/*`` annotations is registered or updated, like a registration by path or URL.

Unlike a registration (all or nothing), a sync is per component: one that is invalid or
breaks the platform's contract is reported as rejected, with its problems, and the others
still sync. Problems carry no line (the catalog API has no positions): their ``file`` is
``<catalog URL> component:<namespace>/<name>``.

Reading the catalog (:func:`read_backstage`, HTTP with retries) is kept apart from
recording it (:func:`sync_from_backstage`, inside the caller's transaction), so no
database write lock is held while the catalog answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from shipyard.catalog import Component, Platform, Problem, contract_problems
from shipyard.catalog.backstage import BackstageClient, CatalogComponents
from shipyard.services.errors import InvalidRequestError
from shipyard.store.components import find_component, upsert_component

__all__ = [
    "SERVER_MANAGED_METADATA",
    "BackstageTarget",
    "Rejected",
    "SyncResult",
    "backstage_target",
    "read_backstage",
    "sync_from_backstage",
]

SERVER_MANAGED_METADATA = ("uid", "etag", "generation")
"""Metadata Backstage sets on stored entities; not kept, so a re-stitch is no change."""


@dataclass(frozen=True, slots=True)
class BackstageTarget:
    """Which catalog to read, and the token to send it (None: no ``Authorization``)."""

    url: str
    token: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A catalog component that was not stored, and why."""

    ref: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync did to each component the catalog returned (refs ``namespace/name``)."""

    catalog: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def backstage_target(
    url: str | None,
    token: str | None,
    configured_url: str | None,
    configured_token: str | None,
    *,
    allowed: Sequence[str],
) -> BackstageTarget:
    """The catalog of a request, else the configured one.

    Only catalogs an admin configured may be read: ``configured_url``
    (``SHIPYARD_BACKSTAGE_URL``) and ``allowed`` (``SHIPYARD_BACKSTAGE_CATALOG_URLS``); a
    request naming any other URL is refused before anything is fetched, so the server
    cannot be made to read a host of the caller's choosing. The configured token is only
    ever sent to the configured URL: a request naming another allowed catalog brings its
    own token (or none).
    """
    chosen = _normal(url or configured_url or "")
    if not chosen:
        raise InvalidRequestError(
            "no Backstage catalog to sync from: give backstage_url, or start the server "
            "with SHIPYARD_BACKSTAGE_URL"
        )
    if not chosen.startswith(("http://", "https://")):
        raise InvalidRequestError(
            f"{chosen[:200]!r} is not a Backstage backend URL: give http(s)://host[:port]"
        )
    known = {_normal(entry) for entry in [configured_url or "", *allowed] if entry.strip()}
    if chosen not in known:
        raise InvalidRequestError(
            f"{chosen[:200]!r} is not a Backstage catalog this server may read: an admin "
            "adds it to SHIPYARD_BACKSTAGE_CATALOG_URLS (a JSON list of URLs), or sets it "
            "as SHIPYARD_BACKSTAGE_URL"
        )
    same = configured_url is not None and chosen == _normal(configured_url)
    return BackstageTarget(chosen, token or (configured_token if same else None))


def read_backstage(target: BackstageTarget, **client_options: Any) -> CatalogComponents:
    """Every annotated Component of the catalog; raises
    :class:`~shipyard.catalog.backstage.BackstageError` (or its ``BackstageAuthError``)."""
    with BackstageClient(target.url, target.token, **client_options) as client:
        return client.components()


def _ref_of_file(file: str, catalog: str) -> str:
    """``<catalog> component:ns/name`` -> ``ns/name`` (the client's problem file)."""
    ref = file.removeprefix(catalog).strip()
    return ref.split(":", 1)[1] if ":" in ref else ref


def _descriptor(component: Component) -> dict[str, Any]:
    data = dict(component.document.data)
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        data["metadata"] = {
            key: value for key, value in metadata.items() if key not in SERVER_MANAGED_METADATA
        }
    return data


def _contract(component: Component, platform: Platform | None) -> tuple[Problem, ...]:
    if platform is None:
        return ()
    found = contract_problems(component, platform).values()
    return tuple(dict.fromkeys(problem for problems in found for problem in problems))


def sync_from_backstage(
    session: Session,
    catalog: CatalogComponents,
    platform: Platform | None,
    *,
    catalog_url: str,
) -> SyncResult:
    """Record each valid component of ``catalog`` that satisfies the platform's contract in
    every environment (the same upsert and check as a registration); report the others.

    A component whose stored descriptor, owner, template and source already equal the
    catalog's is left untouched (``unchanged``). Components missing from the catalog are
    kept: a sync adds and updates, it never deletes.
    """
    result = SyncResult(catalog=catalog_url)
    invalid: dict[str, list[Problem]] = {}
    for problem in catalog.problems:
        invalid.setdefault(_ref_of_file(problem.file, catalog_url), []).append(problem)
    for ref, found in invalid.items():
        result.rejected.append(Rejected(ref, tuple(found)))
    for component in _sorted(catalog.components):
        broken = _contract(component, platform)
        if broken:
            result.rejected.append(Rejected(component.id, broken))
            continue
        values: dict[str, Any] = {
            "descriptor": _descriptor(component),
            "owner": str(component.owner) if component.owner else None,
            "template": component.annotations.get("shipyard.dev/template"),
            "source": component.document.file,
        }
        existing = find_component(session, component.namespace, component.name)
        if existing is not None and values == {
            "descriptor": existing.descriptor,
            "owner": existing.owner,
            "template": existing.template,
            "source": existing.source,
        }:
            result.unchanged.append(component.id)
            continue
        upsert_component(session, component.namespace, component.name, **values)
        (result.created if existing is None else result.updated).append(component.id)
    return result


def _sorted(components: Sequence[Component]) -> list[Component]:
    return sorted(components, key=lambda component: (component.namespace, component.name))
