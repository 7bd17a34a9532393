"""The Web UI in a real browser: sign in, find the component, deploy a tag and watch its
live log reach success, open the new version, preview, roll back, find it all in the
history and the audit log; a viewer sees no Deploy button and is refused all the same; a
form without its CSRF token is refused. Each page is saved as a screenshot, wide and
narrow, under test-artifacts/screenshots/."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.integration

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
DEPLOY_TIMEOUT_MS = 180_000


@pytest.fixture(autouse=True)
def _no_google_credentials(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """prod targets gcp: no credentials of this machine's may be found by a job."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")


def _shoot(folder: Path, page: Page, name: str) -> None:
    """``<name>-wide.png`` and ``<name>-narrow.png``, whole pages."""
    size = page.viewport_size
    for label, viewport in (("wide", WIDE), ("narrow", NARROW)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    if size is not None:
        page.set_viewport_size(size)


def _sign_in(browser: Browser, url: str, token: str) -> Page:
    context = browser.new_context(viewport=WIDE, base_url=url)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    expect(page.get_by_role("heading", name="Components")).to_be_visible()
    return page


def _wait_finished(page: Page, status: str) -> None:
    expect(page.locator("#status")).to_contain_text(status, timeout=DEPLOY_TIMEOUT_MS)


def _deploy_through_the_api(plane: Any, tag: str, wait_for: Any) -> None:
    path = f"/api/v1/components/default/{plane.name}/deployments"
    requested = plane.api.client.post(path, json={"environment": "dev", "tag": tag})
    assert requested.status_code == 202, requested.text
    url = f"/api/v1/deployments/{requested.json()['id']}"
    wait_for(
        lambda: plane.api.client.get(url).json()["status"] not in ("queued", "running"),
        f"the deploy of {tag}",
        DEPLOY_TIMEOUT_MS / 1000,
    )
    assert plane.api.client.get(url).json()["status"] == "succeeded"


def test_sign_in_deploy_watch_open_preview_roll_back_and_find_it_all(
    control_plane: Any, chromium: Browser, screenshots: Path, wait_for: Any
) -> None:
    plane = control_plane
    shoot = partial(_shoot, screenshots)
    registered = plane.api.client.post("/api/v1/components", json={"path": str(plane.catalog)})
    assert registered.status_code == 201, registered.text
    plane.release("v1")
    _deploy_through_the_api(plane, "v1", wait_for)  # something to roll back to
    plane.release("v2")

    page = _sign_in(chromium, plane.api.url, plane.api.token)
    login = chromium.new_page(viewport=WIDE)
    login.goto(f"{plane.api.url}/login")
    shoot(login, "login")
    login.close()

    # Find the component.
    page.get_by_label("Search").fill(plane.name)
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has_text=plane.name)
    expect(row).to_contain_text("v1")
    expect(row).to_contain_text("healthy")
    shoot(page, "components")
    page.get_by_role("link", name=plane.name).click()
    expect(page.get_by_role("heading", name=plane.name, exact=True)).to_be_visible()
    shoot(page, "component")

    # Deploy v2 and watch the live log reach success, without a reload until the end.
    dev = page.locator("section.env").filter(has=page.get_by_role("heading", name="dev"))
    dev.get_by_label("Tag").select_option("v2")
    dev.get_by_role("button", name="Deploy").click()
    expect(page).to_have_url(re.compile(r"/deployments/\d+$"))
    deployment_url = page.url
    assert page.locator("#log").get_attribute("data-stream"), "a queued deploy has a live log"
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#log li .kind", has_text="engine.").first).to_be_visible(
        timeout=DEPLOY_TIMEOUT_MS
    )
    assert page.evaluate("window.__notReloaded === true"), "the lines came live, not by reload"
    shoot(page, "deployment-running")
    _wait_finished(page, "succeeded")
    expect(page.locator("#log li .kind", has_text="deployment.succeeded")).to_have_count(1)
    shoot(page, "deployment-succeeded")

    # Open the new version at its URL.
    service_url = page.locator("#url a.service-url").get_attribute("href")
    assert service_url
    version = chromium.new_page()
    version.goto(f"{service_url}/version")
    assert version.inner_text("body").strip() == "v2"
    version.close()

    # Preview v1: the diff, before anything changes.
    page.goto(f"/components/default/{plane.name}")
    dev.get_by_label("Tag").select_option("v1")
    dev.get_by_role("button", name="Preview").click()
    _wait_finished(page, "succeeded")
    diff = page.get_by_role("table").filter(has_text="Changed inputs")
    expect(diff).to_contain_text("update")
    shoot(page, "preview")
    assert httpx.get(f"{service_url}/version", timeout=5, trust_env=False).text == "v2"

    # Roll back.
    page.goto(f"/components/default/{plane.name}")
    dev.get_by_role("button", name="Rollback").click()
    _wait_finished(page, "succeeded")
    assert httpx.get(f"{service_url}/version", timeout=5, trust_env=False).text == "v1"

    # Both in the history...
    page.goto(f"/components/default/{plane.name}")
    history = page.get_by_role("table").filter(has_text="Took")
    expect(history.get_by_role("row").nth(1)).to_contain_text("rollback")
    expect(history).to_contain_text("v2")
    deploy_id = deployment_url.rsplit("/", 1)[1]
    expect(history.get_by_role("link", name=f"#{deploy_id}")).to_be_visible()
    expect(dev).to_contain_text("v1")
    shoot(page, "component-after")

    # ... and in the audit log.
    page.get_by_role("link", name="Audit log").click()
    records = page.get_by_role("table")
    expect(records.get_by_role("row").filter(has_text="rollback").first).to_be_visible()
    expect(records.get_by_role("link", name=f"#{deploy_id}")).to_be_visible()
    shoot(page, "audit")

    # Tokens: issue a viewer's, shown once.
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("viewer-jo")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Issue token").click()
    viewer_token = page.get_by_label("Secret").input_value()
    assert viewer_token.startswith("shp_")
    shoot(page, "tokens")

    # A form without its CSRF token is refused.
    no_csrf = page.request.post(
        f"/components/default/{plane.name}/deploy", form={"environment": "dev", "tag": "v2"}
    )
    assert no_csrf.status == 403

    # A viewer sees no Deploy button, and posting the form anyway is refused.
    viewer = _sign_in(chromium, plane.api.url, viewer_token)
    viewer.goto(f"/components/default/{plane.name}")
    expect(viewer.get_by_role("heading", name=plane.name, exact=True)).to_be_visible()
    expect(viewer.get_by_role("button", name="Deploy")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Rollback")).to_have_count(0)
    expect(viewer.get_by_role("link", name="Audit log")).to_have_count(0)
    shoot(viewer, "component-viewer")
    csrf = viewer.locator("input[name=csrf_token]").first.input_value()
    forced = viewer.request.post(
        f"/components/default/{plane.name}/deploy",
        form={"environment": "dev", "tag": "v2", "csrf_token": csrf},
    )
    assert forced.status == 403
    assert "deployer" in forced.text()
    assert httpx.get(f"{service_url}/version", timeout=5, trust_env=False).text == "v1"
