"""A worker host cut off from the database mid-job: it cancels its job gracefully, kills
what is left before its lease runs out, writes nothing once another worker took the job
back (it fails, interrupted), and that worker runs the stack's next job (on SQLite there
is no network to cut)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from shipyard.engine import _procfs
from shipyard.jobs import HandlerRegistry, JobKind, enqueue, get_job
from shipyard.jobs.worker import Worker
from shipyard.settings import Settings
from shipyard.store import open_database, transaction, upgrade
from shipyard.store.events import list_events

pytestmark = pytest.mark.integration

WaitFor = Callable[..., None]
LEASE = 4.0


class _Link:
    """A TCP relay standing for the network between a worker host and the database.

    ``cut`` drops the link the way a partition does: nothing passes in either direction,
    connections stay open and new ones hang, so a worker's queries wait rather than fail.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._up.clear()

    def heal(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self._up.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._up.wait()
            if self._closed:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        with contextlib.suppress(OSError, ValueError):
            while not self._closed:
                readable, _, _ = select.select([a, b], [], [], 0.05)
                for sock in readable:
                    self._up.wait()  # a cut link holds what was sent
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)


@pytest.fixture
def shared(shared_url: str) -> Iterator[tuple[str, Engine]]:
    database = open_database(shared_url)
    upgrade(database)
    try:
        yield shared_url, database
    finally:
        database.dispose()


def _worker(settings: Settings, name: str, database: Engine | None = None) -> Worker:
    handlers = HandlerRegistry({JobKind.deploy: "shipyard.jobs.testing:wait_for_gate"})
    return Worker(
        settings,
        handlers,
        worker_id=name,
        lease_seconds=LEASE,
        poll_interval=0.1,
        cancel_grace=LEASE,
        shutdown_grace=1.0,
        database=database,
    )


@contextlib.contextmanager
def _running(worker: Worker) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()


def _gone(pid: int) -> bool:
    process = _procfs.identify(pid)
    return process is None or not _procfs.alive(process)


def test_a_worker_cut_off_from_the_database_stops_and_writes_nothing_after_its_lease(
    shared: tuple[str, Engine], tmp_path: Path, wait_for: WaitFor
) -> None:
    url, database = shared
    parsed = make_url(url)
    assert parsed.host is not None and parsed.port is not None
    link = _Link(parsed.host, parsed.port)
    cut_off_url = parsed.set(port=link.port).render_as_string(hide_password=False)
    started, gate = tmp_path / "started", tmp_path / "gate"
    with transaction(database) as session:
        job_id = enqueue(
            session,
            JobKind.deploy,
            "default/app/prod",
            {"started": str(started), "gate": str(gate)},
        ).id
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    host_a = Settings(data_dir=tmp_path / "a", database_url=cut_off_url, pulumi=None)
    host_b = Settings(data_dir=tmp_path / "b", database_url=url, pulumi=None)
    try:
        with _running(_worker(host_a, "host-a:1:0")) as thread_a:
            wait_for(started.exists, "host A's job to start", timeout=60)
            first_pid = int(started.read_text())
            started.unlink()
            link.cut()
            cut_at = time.monotonic()
            # Half a lease unrenewed: a graceful cancel (the handler stops on it);
            # a whole lease: nothing of the attempt is left either way.
            wait_for(lambda: _gone(first_pid), "host A's job process to stop", timeout=LEASE + 2)
            stopped_after = time.monotonic() - cut_at
            assert stopped_after < LEASE + 0.5, stopped_after  # the lease ran from before

            with transaction(database) as session:
                following = {"started": str(started), "gate": str(gate)}
                next_id = enqueue(session, JobKind.deploy, "default/app/prod", following).id
            with _running(_worker(host_b, "host-b:1:0")):
                wait_for(started.exists, "host B to take the stack over", timeout=LEASE + 15)
                link.heal()  # host A is back: its late writes must all be refused
                gate.touch()
                wait_for(
                    lambda: _state(database, next_id) == "succeeded", "the job to end", timeout=60
                )
        wait_for(lambda: not thread_a.is_alive(), "host A to stop", timeout=30)
    finally:
        link.close()

    with transaction(database, read_only=True) as session:
        cut_off = get_job(session, job_id)
        job = get_job(session, next_id)
        events = list(list_events(session, job_id))
    assert (cut_off.state.value, cut_off.worker_id, cut_off.result) == (
        "failed",
        "host-a:1:0",
        None,
    )
    assert cut_off.error is not None
    assert cut_off.error.startswith("interrupted: worker host-a:1:0 stopped renewing its lease")
    assert job.result is not None and job.result["pid"] != first_pid
    assert (job.worker_id, job.attempts, job.result["recovery"]) == ("host-b:1:0", 1, True)
    kinds = [e.kind for e in events]
    taken_over = kinds.index("lease_expired")
    written_by_a = [
        e.kind
        for e in events[taken_over:]
        if (e.data or {}).get("worker_id") == "host-a:1:0" and e.kind != "lease_expired"
    ]
    assert written_by_a == []
    assert "released" not in kinds and "cancel" not in kinds[taken_over:]
    assert kinds[taken_over:] == ["lease_expired", "failed"], "written after the takeover"


def _state(database: Engine, job_id: int) -> str:
    with transaction(database, read_only=True) as session:
        return get_job(session, job_id).state.value
