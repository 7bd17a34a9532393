"""``shipyard webhook secret set``, the installed console script against a real server:
the secret is printed once, verifies the component's webhooks, and a new one replaces it."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.settings import Settings
from shipyard.store import open_database
from shipyard.testing.api import Api, serve_api, settings_environment
from shipyard.testing.samples import write_component, write_platform

SHIPYARD = Path(sys.executable).with_name("shipyard")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=url,
        source_roots=[tmp_path],
        platform=write_platform(tmp_path / "platform.yaml"),
    )  # no installation secret: only the component's own can verify
    database = open_database(url)
    try:
        with serve_api(settings, database) as served:
            descriptor = write_component(tmp_path / "shop", "shop")
            descriptor.write_text(
                descriptor.read_text().replace(
                    "  annotations:\n", "  annotations:\n    github.com/project-slug: acme/shop\n"
                )
            )
            registered = served.client.post("/api/v1/components", json={"path": str(descriptor)})
            assert registered.status_code == 201, registered.text
            yield served
    finally:
        database.dispose()


def shipyard(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **settings_environment(api.settings),
        "SHIPYARD_SERVER": api.url,
        "SHIPYARD_TOKEN": api.token,
    }
    return subprocess.run(
        [str(SHIPYARD), *args], capture_output=True, text=True, env=env, timeout=60
    )


def ping(api: Api, secret: str) -> httpx.Response:
    body = json.dumps({"zen": "hi", "repository": {"full_name": "acme/shop"}}).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{api.url}/api/v1/hooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={digest}",
        },
        timeout=30,
    )


def test_secret_set_prints_the_secret_once_and_it_verifies_the_components_webhooks(
    api: Api,
) -> None:
    assert ping(api, "anything").status_code == 401  # no secret yet: nothing verifies
    done = shipyard(api, "webhook", "secret", "set", "default/shop")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("whsec_") and len(secret) > 40
    assert "shown this once" in done.stderr
    answered = ping(api, secret)
    assert answered.status_code == 200, answered.text
    assert answered.json()["components"] == ["default/shop"]
    again = json.loads(shipyard(api, "webhook", "secret", "set", "shop", "--output", "json").stdout)
    assert again["component"] == "default/shop" and again["secret"] != secret
    assert ping(api, secret).status_code == 401
    assert ping(api, again["secret"]).status_code == 200


def test_secret_set_of_an_unknown_component_says_so(api: Api) -> None:
    done = shipyard(api, "webhook", "secret", "set", "default/ghost")
    assert done.returncode != 0
    assert "default/ghost" in done.stderr
