"""Hosts simulated on this machine, for the multi-host proof (issue 21).

Each host is a network namespace of its own (``ip netns add``) with a veth pair into a
bridge the :class:`Lan` creates, an address in a private /24 that exists only inside those
namespaces, and its loopback up. Each process on a host runs in a PID and UTS namespace of
its own (``ip netns exec NS unshare --uts --pid --fork --mount-proc``) under the host's
hostname, so Pulumi's lock names that host and a pid that means nothing elsewhere.

The test process itself stays in the machine's namespace: what it asks of the cluster (the
API, the database) it asks from an *operator* host, through :meth:`Lan.operator`, which
runs a function in a thread that entered the operator's network namespace (a namespace is a
thread's own, so nothing else of the test moves).

Every namespace, veth, bridge and process is removed when :func:`open_lan` ends, even on a
failure. Needs root (``ip netns``), ``unshare`` and ``runuser`` (util-linux).

The deploy handler :func:`deploy_file` runs a real Pulumi ``up`` (a file resource per tag,
its create gated by a file) for the deployment the API recorded, and records its outcome as
the product's handlers do: the cluster's jobs need no container engine, which a namespace
of this machine cannot reach as the product's local target expects.

:func:`open_cluster` sets up what the multi-host test and benchmark share: the LAN,
PostgreSQL on a host of its own, the platform and a catalog of components, the hosts'
environment; :class:`Cluster` starts API replicas and workers on hosts and asks the API
and the database from the operator host.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import sqlalchemy as sa

from shipyard.errors import ShipyardError
from shipyard.jobs.handlers import JobContext
from shipyard.testing.postgres import find_bindir

__all__ = [
    "GATE_ENV",
    "OUTPUT_ENV",
    "PASSPHRASE",
    "Cluster",
    "Host",
    "HostProcess",
    "HostsUnavailableError",
    "Lan",
    "deploy_file",
    "hosts_available",
    "open_cluster",
    "open_lan",
    "start_postgres",
]

T = TypeVar("T")

OUTPUT_ENV = "SHIPYARD_HOSTS_OUTPUT"
"""The directory :func:`deploy_file` writes its files under (``<stack>/<tag>``)."""
GATE_ENV = "SHIPYARD_HOSTS_GATE"
"""The file whose existence lets :func:`deploy_file`'s create finish."""

_CLONE_NEWNET = 0x40000000
_POSTGRES_PORT = 5432


class HostsUnavailableError(ShipyardError):
    """The machine cannot simulate hosts (not root, or no ``ip``/``unshare``)."""


def hosts_available() -> str | None:
    """None when hosts can be simulated here, else why not."""
    if os.geteuid() != 0:
        return "simulated hosts need root (ip netns, veth, a bridge)"
    for tool in ("ip", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"simulated hosts need `{tool}` on PATH"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise HostsUnavailableError(f"ip {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


@dataclass
class HostProcess:
    """A process started on a host (the ``ip netns exec`` in the machine's namespace)."""

    host: Host
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the process in its namespace (the namespace's first process), then
        SIGKILL after ``timeout``."""
        for pid in self.inner_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.host.kill_all()
            self.popen.wait(timeout)

    def inner_pids(self) -> list[int]:
        """The pid (in this machine's namespace) of the command, under ``unshare``."""
        return _children(self.popen.pid)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    return found


@dataclass
class Host:
    """A network namespace with an address on the LAN."""

    name: str
    namespace: str
    address: str
    outer_link: str
    processes: list[HostProcess] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path
    ) -> HostProcess:
        """Run ``argv`` on this host, in a PID and UTS namespace of its own named after
        the host; its output goes to ``log``."""
        script = 'hostname "$0" && exec "$@"'
        command = [
            "ip", "netns", "exec", self.namespace,
            "unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child",
            "sh", "-c", script, self.name, *argv,
        ]  # fmt: skip
        log.parent.mkdir(parents=True, exist_ok=True)
        out: IO[bytes]
        with log.open("ab") as out:
            popen = subprocess.Popen(
                command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = HostProcess(self, name, popen, log)
        self.processes.append(process)
        return process

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on this host (its network namespace only, no stdin) in ``cwd``."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pids(self) -> list[int]:
        """Every process in this host's network namespace."""
        done = _ip("netns", "pids", self.namespace, check=False)
        return [int(pid) for pid in done.stdout.split()]

    def kill_all(self) -> int:
        """SIGKILL every process of the host at once (the host is lost); how many."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(30)
        return len(pids)

    def cut(self) -> None:
        """Drop the host's link: it keeps running, cut off from every other host."""
        _ip("link", "set", self.outer_link, "down")

    def restore(self) -> None:
        _ip("link", "set", self.outer_link, "up")


@dataclass
class Lan:
    """A bridge and the hosts on it; see the module's docstring."""

    bridge: str
    prefix: str
    tag: str
    hosts: dict[str, Host] = field(default_factory=dict)
    _operator: ThreadPoolExecutor | None = None

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 2
        namespace = f"sy-{self.tag}-{name}"
        outer = f"sy{self.tag}{index}"
        _ip("netns", "add", namespace)
        host = Host(name, namespace, f"{self.prefix}.{index}", outer)
        self.hosts[name] = host
        _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        inside = ("netns", "exec", namespace, "ip")
        _ip(*inside, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")
        return host

    def operator(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` run from the operator host (its network namespace):
        sockets it opens reach the LAN. One thread, so calls run one at a time."""
        if self._operator is None:
            host = self.hosts.get("operator") or self.add_host("operator")
            self._operator = ThreadPoolExecutor(
                max_workers=1, initializer=_enter_namespace, initargs=(host.namespace,)
            )
        return self._operator.submit(function, *args, **kwargs).result()

    def close(self) -> None:
        if self._operator is not None:
            self._operator.shutdown(wait=True, cancel_futures=True)
        for host in self.hosts.values():
            host.kill_all()
        for host in self.hosts.values():
            _ip("link", "del", host.outer_link, check=False)
            _ip("netns", "del", host.namespace, check=False)
        _ip("link", "del", self.bridge, check=False)


def _enter_namespace(namespace: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    finally:
        os.close(fd)


@contextmanager
def open_lan() -> Iterator[Lan]:
    """A bridge for hosts, on a random private /24 (10.213-254.x.0/24); everything removed
    at the end, the hosts' processes killed."""
    why = hosts_available()
    if why is not None:
        raise HostsUnavailableError(why)
    tag = os.urandom(3).hex()
    lan = Lan(
        bridge=f"sybr{tag}",
        prefix=f"10.{213 + secrets.randbelow(42)}.{secrets.randbelow(256)}",
        tag=tag,
    )
    try:
        _ip("link", "add", lan.bridge, "type", "bridge")
        _ip("link", "set", lan.bridge, "up")
        yield lan
    finally:
        lan.close()


_PG_CONFIG = """
listen_addresses = '{address}'
port = {port}
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
"""


@contextmanager
def start_postgres(lan: Lan, host: Host, *, timeout: float = 60.0) -> Iterator[str]:
    """A throwaway PostgreSQL cluster running on ``host``, listening on its LAN address and
    trusting the LAN; yields the SQLAlchemy URL of its ``shipyard`` database."""
    bindir = find_bindir()
    base = Path(tempfile.mkdtemp(prefix="shipyard-hosts-pg-"))
    shutil.chown(base, user="postgres", group="postgres")
    data = base / "data"
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *initdb],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise HostsUnavailableError(f"initdb failed: {done.stderr}")
        (data / "postgresql.auto.conf").write_text(
            _PG_CONFIG.format(address=host.address, port=_POSTGRES_PORT)
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {lan.prefix}.0/24 trust\n")
        argv = ["runuser", "-u", "postgres", "--", str(bindir / "postgres"), "-D", str(data)]
        process = host.start("postgres", argv, os.environ, base / "server.log")
        admin = f"postgresql+psycopg://postgres@{host.address}:{_POSTGRES_PORT}/postgres"
        lan.operator(_create_database, admin, process, timeout)
        yield f"postgresql+psycopg://postgres@{host.address}:{_POSTGRES_PORT}/shipyard"
    finally:
        host.kill_all()
        shutil.rmtree(base, ignore_errors=True)


def _create_database(admin: str, process: HostProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    database = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        while True:
            try:
                with database.connect() as connection:
                    connection.exec_driver_sql("CREATE DATABASE shipyard")
                return
            except sa.exc.OperationalError:
                if not process.alive() or time.monotonic() > deadline:
                    raise HostsUnavailableError(
                        f"PostgreSQL did not start on {process.host.name}: "
                        f"{process.log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.2)  # the server's start-up
    finally:
        database.dispose()


def deploy_file(ctx: JobContext) -> dict[str, Any]:
    """A deploy job's handler with a real Pulumi ``up`` and no container engine: the
    deployment's tag becomes a file ``$SHIPYARD_HOSTS_OUTPUT/<stack>/<tag>`` (a resource per
    tag, so the previous tag's file is deleted by the same ``up``); the create waits for
    ``$SHIPYARD_HOSTS_GATE`` to exist. The deployment is recorded ``running`` and then
    ``succeeded`` (or ``failed``) as the product's handlers record it."""
    from shipyard.engine import Engine, StackRef
    from shipyard.engine.testing import GatedFileResource
    from shipyard.services._job_run import JobRun, run_job
    from shipyard.store.deployments import get_deployment
    from shipyard.store.enums import DeploymentStatus

    output = Path(os.environ[OUTPUT_ENV])
    gate = os.environ[GATE_ENV]

    def operation(run: JobRun) -> tuple[DeploymentStatus, dict[str, Any]]:
        tag = run.tag or "none"
        stack = ctx.stack_key.replace("/", "-")
        folder = output / stack
        folder.mkdir(parents=True, exist_ok=True)
        started = output / "started" / f"{stack}-{tag}-{ctx.job_id}"
        started.parent.mkdir(exist_ok=True)

        def program() -> None:
            GatedFileResource(f"file-{tag}", str(folder / tag), tag, gate, str(started))

        engine = Engine.from_settings(ctx.settings, cancel_grace_s=5.0, second_grace_s=5.0)
        ref = StackRef.of(run.desired.component, run.desired.environment)
        result = engine.up(ref, program, on_event=ctx.engine_sink(), cancel=ctx.cancel)
        with run.session() as session:
            deployment = get_deployment(session, run.deployment_id)
            return run.settle(
                session,
                deployment,
                DeploymentStatus.succeeded,
                {"host": os.uname().nodename, "recovered": list(result.recovered)},
            )

    return run_job(ctx, operation)


SHIPYARD = Path(sys.executable).with_name("shipyard")
"""The ``shipyard`` console script of this interpreter's environment."""
PASSPHRASE = "the cluster's shared passphrase"  # noqa: S105  a throwaway cluster's, shown in docs
"""``PULUMI_CONFIG_PASSPHRASE`` on every host (``SHIPYARD_SECRETS_PROVIDER=passphrase``)."""
API_PORT = 8000
_FINISHED = ("succeeded", "failed", "cancelled", "unchanged")

_PLATFORM = """\
apiVersion: shipyard.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    target: local
templates:
  - name: web-service
    default: true
"""

_CATALOG_ENTRY = """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: experimental
  owner: group:default/team-hosts
"""


@dataclass
class Cluster:
    """Shipyard on simulated hosts sharing one PostgreSQL (see :func:`open_cluster`)."""

    lan: Lan
    url: str
    """The shared database's SQLAlchemy URL (its address is on the LAN)."""
    root: Path
    env: dict[str, str]
    """Every host's environment: the database, the shared passphrase, the platform..."""
    components: list[str]
    output: Path
    """Where :func:`deploy_file` writes: ``<namespace>-<name>-<environment>/<tag>``."""
    gate: Path
    """While it does not exist, every create of :func:`deploy_file` waits."""
    apis: list[str] = field(default_factory=list)
    token: str = ""
    workers: dict[str, HostProcess] = field(default_factory=dict)

    def serve(self, host: Host, *, timeout: float = 120.0) -> HostProcess:
        """A ``shipyard serve`` replica with no workers on ``host``, once it answers."""
        data = self.root / host.name
        env = {**self.env, "SHIPYARD_DATA_DIR": str(data), "SHIPYARD_HOST": host.address}
        env.update(SHIPYARD_PORT=str(API_PORT), SHIPYARD_WORKERS="0")
        process = host.start("serve", [str(SHIPYARD), "serve"], env, data / "serve.log")
        url = f"http://{host.address}:{API_PORT}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        deadline = time.monotonic() + timeout
        while not self.lan.operator(answers):
            if not process.alive() or time.monotonic() > deadline:
                log = process.log.read_text(errors="replace")[-3000:]
                raise HostsUnavailableError(f"serve on {host.name} did not start:\n{log}")
            time.sleep(0.3)
        self.apis.append(url)
        if not self.token:
            self.token = (data / "admin-token").read_text().strip()
        return process

    def start_worker(self, host: Host, lease_seconds: float) -> HostProcess:
        """``shipyard worker`` on ``host``, its deploys run by :func:`deploy_file`."""
        data = self.root / host.name
        argv = [
            str(SHIPYARD), "worker",
            "--handler", "deploy=shipyard.testing.hosts:deploy_file",
            "--lease-seconds", str(lease_seconds), "--poll-interval", "0.2",
        ]  # fmt: skip
        env = {**self.env, "SHIPYARD_DATA_DIR": str(data)}
        process = host.start("worker", argv, env, data / "worker.log")
        self.workers[host.name] = process
        return process

    def register(self) -> None:
        """Register the catalog's components through the first replica."""
        self.request("POST", "/api/v1/components", json={"path": str(self.root / "catalog")})

    def request(self, method: str, path: str, replica: int = 0, **kwargs: Any) -> Any:
        """The API's JSON answer, asked from the operator host; an error answer raises."""

        def call() -> Any:
            headers = {"Authorization": f"Bearer {self.token}"}
            with httpx.Client(base_url=self.apis[replica], headers=headers, timeout=30) as c:
                response = c.request(method, path, **kwargs)
            if response.status_code >= 300:
                raise HostsUnavailableError(
                    f"{method} {path} answered {response.status_code}: {response.text}"
                )
            return response.json()

        return self.lan.operator(call)

    def deploy(self, component: str, tag: str, replica: int = 0) -> int:
        """Request a forced deploy of ``tag`` to ``dev``; the deployment's id."""
        body = {"environment": "dev", "tag": tag, "force": True}
        path = f"/api/v1/components/default/{component}/deployments"
        return int(self.request("POST", path, replica, json=body)["id"])

    def query(self, statement: str, **params: Any) -> list[Any]:
        """Rows of a SQL statement on the shared database, from the operator host."""

        def run() -> list[Any]:
            database = sa.create_engine(self.url, poolclass=sa.NullPool)
            try:
                with database.connect() as connection:
                    return list(connection.execute(sa.text(statement), params))
            finally:
                database.dispose()

        return self.lan.operator(run)

    def deployments(self, ids: set[int] | None = None) -> list[Any]:
        """Deployments (of ``ids``, else all) with their stack's key and job."""
        rows = self.query(
            "SELECT d.id, d.status, d.tag, d.error, s.key, j.id AS job_id, j.worker_id, "
            "d.started_at, d.finished_at FROM deployments d JOIN stacks s ON s.id = d.stack_id "
            "LEFT JOIN jobs j ON j.id = d.job_id ORDER BY d.id"
        )
        return rows if ids is None else [row for row in rows if row.id in ids]

    def settled(self, ids: set[int]) -> bool:
        return all(row.status in _FINISHED for row in self.deployments(ids))

    @staticmethod
    def wait(check: Callable[[], bool], what: str, timeout: float) -> float:
        """Poll ``check`` until it holds; the seconds it took. Raises TimeoutError."""
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_settled(self, ids: set[int], what: str, timeout: float) -> float:
        return self.wait(lambda: self.settled(ids), what, timeout)


@contextmanager
def open_cluster(root: Path, pulumi: Path, components: int) -> Iterator[Cluster]:
    """A LAN with PostgreSQL on host ``db``, a platform with one ``dev`` environment and a
    catalog of ``components`` (``svc-00``...) under ``root``; no API or worker yet. Every
    host's environment shares the database (store, queue, Pulumi state) and passphrase."""
    root.chmod(0o755)  # the postgres user reads nothing here, the hosts' processes do
    (root / "platform.yaml").write_text(_PLATFORM)
    names = [f"svc-{n:02d}" for n in range(components)]
    (root / "catalog").mkdir()
    entries = "".join(_CATALOG_ENTRY.format(name=name) for name in names)
    (root / "catalog" / "catalog-info.yaml").write_text(entries)
    output, gate = root / "out", root / "gate"
    output.mkdir()
    gate.touch()
    with open_lan() as lan, start_postgres(lan, lan.add_host("db")) as url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
            "SHIPYARD_DATABASE_URL": url,
            "SHIPYARD_SECRETS_PROVIDER": "passphrase",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "SHIPYARD_PULUMI": str(pulumi),
            "SHIPYARD_PLATFORM": str(root / "platform.yaml"),
            "SHIPYARD_SOURCE_ROOTS": json.dumps([str(root)]),
            "SHIPYARD_CACHE_DIR": str(root / "cache"),
            OUTPUT_ENV: str(output),
            GATE_ENV: str(gate),
        }
        yield Cluster(lan, url, root, env, names, output, gate)
