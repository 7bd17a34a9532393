"""Which environments' targets a worker can reach: the jobs of the others stay queued.

A worker host may sit anywhere while the local target's container engine and proxy live
on a container host (``SHIPYARD_CONTAINER_HOST``, ``SHIPYARD_PROXY_ADMIN_URL``). A worker
that cannot reach them leaves the jobs of ``local`` environments to workers that can, at
claim time, rather than failing them halfway. The answer is kept ``ttl_s`` seconds: a
probe costs an engine ``info`` and one HTTP request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import structlog
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.models import Environment
from shipyard.targets.local.detect import detect_container_engine
from shipyard.targets.local.errors import LocalTargetError

__all__ = ["TargetReach"]

_log = structlog.get_logger(__name__)
_PROBE_TIMEOUT_S = 10.0


class TargetReach:
    """The environments whose target this worker cannot reach now (none if unsure)."""

    def __init__(
        self,
        settings: Settings,
        database: Engine,
        *,
        ttl_s: float = 15.0,
        probe: Callable[[Settings], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._database = database
        self._ttl_s = ttl_s
        self._probe = probe or local_target_problem
        self._clock = clock
        self._due = 0.0
        self._unreachable: tuple[str, ...] = ()
        self._problem: str | None = None

    def unreachable(self) -> tuple[str, ...]:
        now = self._clock()
        if now < self._due:
            return self._unreachable
        self._due = now + self._ttl_s
        try:
            with transaction(self._database, read_only=True) as session:
                local = tuple(
                    session.scalars(select(Environment.name).where(Environment.target == "local"))
                )
        except SQLAlchemyError:
            return self._unreachable  # the claim meets the database's trouble itself
        problem = self._probe(self._settings) if local else None
        if problem != self._problem:
            if problem is None:
                _log.info("the local target answers again: taking its jobs")
            else:
                _log.warning(
                    "the local target does not answer: its jobs stay queued for other workers",
                    problem=problem,
                    environments=list(local),
                )
        self._problem = problem
        self._unreachable = local if problem is not None else ()
        return self._unreachable


def local_target_problem(settings: Settings) -> str | None:
    """Why the local target cannot be used from here (its container engine, its proxy's
    admin API when one is set); None when both answer."""
    try:
        engine = detect_container_engine(settings)
    except LocalTargetError as exc:
        return str(exc)
    problem = engine.problem(_PROBE_TIMEOUT_S)
    if problem is not None:
        return problem
    admin = settings.proxy_admin_url
    if admin:
        try:
            httpx.get(f"{admin.rstrip('/')}/config/", timeout=_PROBE_TIMEOUT_S, trust_env=False)
        except httpx.HTTPError as exc:
            return f"the proxy's admin API {admin} does not answer: {exc}"
    return None
