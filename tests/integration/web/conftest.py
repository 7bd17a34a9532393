"""The browser tests: Debian's chromium, driven by Playwright, against the control plane
of the use-case tests (the real API and pages, workers, git tags, podman, Pulumi, Caddy)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The control plane the use-case tests run against (tests/integration/services).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from plane_world import ControlPlane, open_control_plane

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def screenshots() -> Path:
    """Where the pages' screenshots go: test-artifacts/screenshots/ in the checkout."""
    folder = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with open_control_plane(tmp_path) as plane:
        yield plane


@pytest.fixture
def chromium() -> Iterator[object]:
    """A headless chromium (Debian's: Playwright cannot download one here)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
