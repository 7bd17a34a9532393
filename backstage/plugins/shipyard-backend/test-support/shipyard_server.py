"""A real Shipyard server for the backend plugin's tests (jest's globalSetup runs it).

Run with Shipyard's virtualenv python (``.venv/bin/python``). It starts ``shipyard serve``
in a process of its own on a free loopback port, with a temporary data dir, the sample
platform (environments dev and staging), two components (``checkout`` owned by
``group:default/payments``, ``ledger`` by ``group:default/finance``), the on-behalf-of
settings and a service token for the user ``backstage``. It then prints one JSON line,
``{"url", "adminToken", "serviceToken", "secret", "dataDir"}``, and serves until its
standard input closes (or it gets SIGTERM), then stops the server and removes the dir.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from shipyard.settings import Settings
from shipyard.testing.api import settings_environment
from shipyard.testing.samples import write_component, write_platform

ROLE_MAP = {
    "group:default/payments": "deployer",
    "group:default/finance": "deployer",
    "group:default/platform": "admin",
}


TAGS = ("v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0", "not-a-release")


def _repository(folder: Path) -> Path:
    """A git repository with the tags :data:`TAGS` (checkout's source)."""
    folder.mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (folder / "README").write_text("checkout\n")
    git("add", "README")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
    for tag in TAGS:
        git("tag", tag)
    return folder


def _inventory(folder: Path) -> Path:
    """A git repository whose catalog-info.yaml describes ``inventory`` (payments'), for
    the register action (nothing registers it before the tests)."""
    folder.mkdir(parents=True)
    write_component(folder, "inventory").write_text(
        (folder / "catalog-info.yaml")
        .read_text()
        .replace("group:default/team-orders", "group:default/payments")
    )
    for args in (
        ("init", "-q", "-b", "main"),
        ("add", "catalog-info.yaml"),
        ("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "c"),
    ):
        subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)
    return folder


def _register(
    client: httpx.Client, folder: Path, name: str, owner: str, source: Path | None = None
) -> None:
    descriptor = write_component(folder / name, name, source=source)
    descriptor.write_text(descriptor.read_text().replace("group:default/team-orders", owner))
    response = client.post("/api/v1/components", json={"path": str(folder / name)})
    response.raise_for_status()


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    secret = secrets.token_urlsafe(48)
    with tempfile.TemporaryDirectory(prefix="shipyard-backstage-") as temp:
        folder = Path(temp)
        url = f"sqlite:///{folder / 'shipyard.db'}"
        settings = Settings(
            data_dir=folder / "data",
            cache_dir=folder / "cache",
            database_url=url,
            platform=write_platform(folder / "platform.yaml"),
            source_roots=[folder / "components"],
        )
        env = {
            **settings_environment(settings),
            "SHIPYARD_PORT": "0",
            "SHIPYARD_WORKERS": "0",
            "SHIPYARD_ON_BEHALF_SECRET": secret,
            "SHIPYARD_ON_BEHALF_SERVICES": json.dumps(["backstage"]),
            "SHIPYARD_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            "SHIPYARD_BACKSTAGE_SYNC_INTERVAL": "0",
            "SHIPYARD_SOURCE_ROOTS": json.dumps([str(folder / "components")]),
        }
        settings.data_dir.mkdir(parents=True)
        log = settings.data_dir / "serve.log"
        shipyard = Path(sys.executable).with_name("shipyard")
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(shipyard), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            base = _wait_listening(process, log)
            admin = (settings.data_dir / "admin-token").read_text().strip()
            headers = {"Authorization": f"Bearer {admin}"}
            with httpx.Client(
                base_url=base, headers=headers, timeout=30, trust_env=False
            ) as client:
                repository = _repository(folder / "components" / "checkout-repo")
                _register(
                    client, folder / "components", "checkout", "group:default/payments", repository
                )
                _register(client, folder / "components", "ledger", "group:default/finance")
                issued = client.post("/api/v1/tokens", json={"name": "backstage", "role": "admin"})
                issued.raise_for_status()
            line = {
                "url": base,
                "adminToken": admin,
                "serviceToken": issued.json()["secret"],
                "secret": secret,
                "dataDir": str(settings.data_dir),
                "inventoryRepository": str(_inventory(folder / "components" / "inventory-repo")),
            }
            print(json.dumps(line), flush=True)
            stop.wait()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"Shipyard is listening on (http://\S+)", log.read_text(errors="replace"))
        if found is not None:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"shipyard serve did not start:\n{log.read_text()[-4000:]}")


if __name__ == "__main__":
    main()
