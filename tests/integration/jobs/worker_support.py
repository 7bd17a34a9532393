"""Helpers of the worker tests: queue jobs, read them back, run workers."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shipyard.engine import _procfs
from shipyard.jobs import HandlerRegistry, JobKind, enqueue, get_job
from shipyard.jobs.backoff import Backoff
from shipyard.jobs.worker import Worker
from shipyard.settings import Settings
from shipyard.store import transaction
from shipyard.store.events import list_events
from shipyard.store.models import Event, Job

SHIPYARD = Path(sys.executable).with_name("shipyard")
HANDLERS = "shipyard.jobs.testing"
FAST_BACKOFF = Backoff(base=0.2, factor=1.0, maximum=0.2)


def url_of(database: Engine) -> str:
    return database.url.render_as_string(hide_password=False)


def settings_for(database: Engine, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=url_of(database))


def registry(**handlers: str) -> HandlerRegistry:
    """``registry(deploy="write_file")`` -> deploy runs ``shipyard.jobs.testing:write_file``."""
    return HandlerRegistry({JobKind(kind): f"{HANDLERS}:{fn}" for kind, fn in handlers.items()})


def queue_job(
    database: Engine,
    payload: dict[str, Any],
    *,
    kind: JobKind = JobKind.deploy,
    stack: str = "default/app/dev",
    max_attempts: int = 3,
) -> int:
    with transaction(database) as session:
        return enqueue(session, kind, stack, payload, max_attempts=max_attempts).id


def job(database: Engine, job_id: int) -> Job:
    with transaction(database, read_only=True) as session:
        return get_job(session, job_id)


def events(database: Engine, job_id: int) -> list[Event]:
    with transaction(database, read_only=True) as session:
        return list(list_events(session, job_id))


def finished(database: Engine, job_id: int) -> bool:
    return job(database, job_id).state.finished


def gone(pid: int) -> bool:
    process = _procfs.identify(pid)
    return process is None or not _procfs.alive(process)


@contextlib.contextmanager
def worker_thread(worker: Worker) -> Iterator[threading.Event]:
    """Run ``worker`` in a thread; stop and join it afterwards."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="test-worker")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the worker did not stop"
