"""``/api/v1/subscriptions`` against a real server: what an admin does to subscribe a URL,
and the URLs, events and filters it is refused, each with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.settings import Settings
from shipyard.store import open_database, transaction
from shipyard.store.auth import create_user, issue_token
from shipyard.store.enums import Role
from shipyard.store.models import AuditRecord, Subscription
from shipyard.testing.api import Api, assert_problem, serve_api
from shipyard.testing.samples import write_component, write_platform

SUBSCRIPTIONS = "/api/v1/subscriptions"


def _register(api: Api, directory: Path, name: str) -> None:
    write_component(directory, name)
    response = api.client.post("/api/v1/components", json={"path": str(directory)})
    assert response.status_code in (200, 201), response.text


def test_create_shows_the_secret_once_list_read_and_delete(api: Api, tmp_path: Path) -> None:
    _register(api, tmp_path / "orders", "orders-api")
    created = api.client.post(
        SUBSCRIPTIONS,
        json={
            "url": "https://chat.example.com/hooks/shipyard?room=ops",
            "events": ["deployment.failed", "deployment.started"],
            "component": "orders-api",
            "environment": "dev",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["url"] == "https://chat.example.com/hooks/shipyard?room=ops"
    # Kept in the order the issue lists them; the component named in full.
    assert body["events"] == ["deployment.started", "deployment.failed"]
    assert (body["component"], body["environment"]) == ("default/orders-api", "dev")

    listed = api.client.get(SUBSCRIPTIONS).json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert "secret" not in listed["items"][0]
    assert body["secret"] not in api.client.get(SUBSCRIPTIONS).text
    one = api.client.get(f"{SUBSCRIPTIONS}/{body['id']}")
    assert one.status_code == 200 and "secret" not in one.json()

    deleted = api.client.delete(f"{SUBSCRIPTIONS}/{body['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"] is not None
    assert api.client.get(SUBSCRIPTIONS).json()["items"] == []
    again = api.client.delete(f"{SUBSCRIPTIONS}/{body['id']}")
    assert again.json()["deleted_at"] == deleted.json()["deleted_at"]
    # The record stays, deliveries too (none yet).
    deliveries = api.client.get(f"{SUBSCRIPTIONS}/{body['id']}/deliveries")
    assert deliveries.status_code == 200 and deliveries.json()["items"] == []

    with transaction(api.database, read_only=True) as session:
        records = [
            (record.action, record.data.get("url"), record.component)
            for record in session.query(AuditRecord).filter_by(subject_type="subscription")
        ]
    # The receiver's path and query stay out of the log (chat webhooks keep a secret there).
    origin = "https://chat.example.com"
    assert records == [
        ("subscription.create", origin, "default/orders-api"),
        ("subscription.delete", origin, "default/orders-api"),
        ("subscription.delete", origin, "default/orders-api"),
    ]


def test_unknown_subscriptions_are_not_found(api: Api) -> None:
    assert_problem(api.client.delete(f"{SUBSCRIPTIONS}/4242"), 404)
    assert_problem(api.client.get(f"{SUBSCRIPTIONS}/4242/deliveries"), 404)


HOSTILE_URLS = {
    "ftp://files.example.com/drop": "scheme",
    "file:///etc/passwd": "scheme",
    "javascript:alert(1)": "scheme",
    "https://user:secret@hooks.example.com/x": "credentials",
    "https://token@hooks.example.com/x": "credentials",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254",
    "http://[fd00:ec2::254]/latest/meta-data/": "fd00:ec2::254",
    "http://metadata.google.internal/computeMetadata/v1/": "metadata",
    "http://127.0.0.1:8000/api/v1/tokens": "127.0.0.1",
    "http://[::1]/": "::1",
    "http://[::ffff:127.0.0.1]/": "127.0.0.1",
    "http://localhost:2019/config/": "localhost",
    "http://api.localhost/": "localhost",
    "http://10.1.2.3/hook": "10.1.2.3",
    "http://192.168.1.1/hook": "192.168.1.1",
    "http://0.0.0.0:8000/": "0.0.0.0",
    "https:///no-host": "no host",
    "https://hooks.example.com/a b": "space",
    "https://hooks.example.com/x#frag": "fragment",
    "https://hooks.example.com:99999/": "not a URL",
}


@pytest.mark.parametrize("url", sorted(HOSTILE_URLS))
def test_hostile_urls_are_refused_with_the_reason(sqlite_api: Api, url: str) -> None:
    response = sqlite_api.client.post(
        SUBSCRIPTIONS, json={"url": url, "events": ["deployment.succeeded"]}
    )
    problem = assert_problem(response, 422)
    assert HOSTILE_URLS[url] in problem["detail"], problem["detail"]
    with transaction(sqlite_api.database, read_only=True) as session:
        assert session.query(Subscription).count() == 0


def test_a_refused_address_names_the_setting_that_allows_it(sqlite_api: Api) -> None:
    response = sqlite_api.client.post(
        SUBSCRIPTIONS, json={"url": "http://10.0.0.7/hook", "events": ["build.failed"]}
    )
    assert "SHIPYARD_DELIVERY_ALLOWED_NETWORKS" in assert_problem(response, 422)["detail"]


def test_events_and_filters_must_name_what_exists(sqlite_api: Api) -> None:
    client = sqlite_api.client
    url = "https://hooks.example.com/x"
    assert_problem(client.post(SUBSCRIPTIONS, json={"url": url, "events": []}), 422)
    assert_problem(client.post(SUBSCRIPTIONS, json={"url": url, "events": ["deploy.done"]}), 422)
    missing = client.post(
        SUBSCRIPTIONS,
        json={"url": url, "events": ["build.failed"], "component": "default/nowhere"},
    )
    assert "default/nowhere is not registered" in assert_problem(missing, 422)["detail"]
    environment = client.post(
        SUBSCRIPTIONS, json={"url": url, "events": ["build.failed"], "environment": "prod"}
    )
    assert "'prod' is not in the platform file" in assert_problem(environment, 422)["detail"]
    extra = client.post(SUBSCRIPTIONS, json={"url": url, "events": ["build.failed"], "x": 1})
    assert_problem(extra, 422)


@pytest.fixture
def loopback_api(tmp_path: Path) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        database_url=url,
        platform=write_platform(tmp_path / "platform.yaml"),
        delivery_allowed_networks=["127.0.0.0/8"],
    )
    database = open_database(url)
    try:
        with serve_api(settings, database) as api:
            yield api
    finally:
        database.dispose()


def test_loopback_is_allowed_only_when_the_setting_lists_it(loopback_api: Api) -> None:
    client = loopback_api.client
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook"):
        created = client.post(SUBSCRIPTIONS, json={"url": url, "events": ["build.failed"]})
        assert created.status_code == 201, created.text
    # The setting opens loopback, not the metadata service or another network.
    for url in ("http://169.254.169.254/", "http://10.0.0.1/", "http://[::1]/"):
        response = client.post(SUBSCRIPTIONS, json={"url": url, "events": ["build.failed"]})
        assert_problem(response, 422)


@pytest.mark.parametrize("role", [Role.viewer, Role.deployer])
def test_only_an_admin_manages_subscriptions(sqlite_api: Api, role: Role) -> None:
    with transaction(sqlite_api.database) as session:
        issued = issue_token(
            session, create_user(session, "someone"), "someone", role=role, teams=["payments"]
        )
    headers = {"Authorization": f"Bearer {issued.secret}"}
    body = {"url": "https://hooks.example.com/x", "events": ["build.failed"]}
    created = sqlite_api.client.post(SUBSCRIPTIONS, json=body)
    assert created.status_code == 201
    for method, path in (
        ("POST", SUBSCRIPTIONS),
        ("GET", SUBSCRIPTIONS),
        ("DELETE", f"{SUBSCRIPTIONS}/{created.json()['id']}"),
        ("GET", f"{SUBSCRIPTIONS}/{created.json()['id']}/deliveries"),
    ):
        response = sqlite_api.client.request(
            method, path, headers=headers, json=body if method == "POST" else None
        )
        assert assert_problem(response, 403)["required_role"] == "admin"
    assert len(sqlite_api.client.get(SUBSCRIPTIONS).json()["items"]) == 1
