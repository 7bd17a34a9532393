"""What ``shipyard serve`` runs beside the API: the proxy in front of local services, the
embedded job workers, and the tag watchers that turn new tags into auto-deploys."""

from __future__ import annotations

import threading
from types import TracebackType

import structlog

from shipyard.jobs.handlers import HandlerRegistry
from shipyard.jobs.worker import run_workers
from shipyard.services.handlers import register_handlers
from shipyard.services.targets import for_jobs
from shipyard.services.triggers import TriggerSupervisor
from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.targets.local.flow import open_proxy
from shipyard.targets.local.proxy import Proxy

__all__ = ["ServerRuntime"]

_log = structlog.get_logger(__name__)


class ServerRuntime:
    """Starts, in order, the proxy (or loads the saved routes into the one
    ``SHIPYARD_PROXY_ADMIN_URL`` names), the workers and the triggers; stops them in
    reverse order.

    The proxy outlives every job: jobs run in child processes that find it through
    ``settings.proxy_admin_url``, so a job's end never takes a service's URL down.
    """

    def __init__(self, settings: Settings, *, workers: int, watch_tags: bool = True) -> None:
        self.settings = settings
        self.workers = workers
        self.watch_tags = watch_tags
        self._proxy: Proxy | None = None
        self._stop = threading.Event()
        self._workers_thread: threading.Thread | None = None
        self._triggers: TriggerSupervisor | None = None

    def start(self) -> Settings:
        """Start everything; the settings the workers run with (naming the proxy)."""
        # Started here, or a configured one given its saved routes (a restarted Caddy).
        self._proxy = open_proxy(self.settings)
        self.settings = for_jobs(
            self.settings.model_copy(update={"proxy_admin_url": self._proxy.admin_url})
        )
        if self.workers > 0:
            handlers = register_handlers(HandlerRegistry())
            self._workers_thread = threading.Thread(
                target=run_workers,
                args=(self.settings, self.workers, self._stop),
                kwargs={"handlers": handlers},
                name="shipyard-workers",
            )
            self._workers_thread.start()
        if self.watch_tags and self.settings.platform is not None:
            self._triggers = TriggerSupervisor(self.settings, open_database(self.settings))
            self._triggers.start()
        _log.info("runtime.started", workers=self.workers, proxy=self.settings.proxy_admin_url)
        return self.settings

    def stop(self) -> None:
        if self._triggers is not None:
            self._triggers.stop()
            self._triggers.database.dispose()
            self._triggers = None
        self._stop.set()
        if self._workers_thread is not None:
            self._workers_thread.join()
            self._workers_thread = None
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        _log.info("runtime.stopped")

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
