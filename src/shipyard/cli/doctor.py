"""``shipyard doctor``: what Shipyard will use, each OK or a one-line fix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._utilities import EXIT_FAILURE, console, print_json, with_errors_handled
from shipyard.cli.db import check_database, writable_dir
from shipyard.engine.toolchain import (
    MIN_VERSION,
    PulumiCli,
    PulumiNotFoundError,
    ensure_pulumi,
    find_pulumi,
)
from shipyard.settings import Settings

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    required: bool
    value: str | None
    detail: str
    fix: str | None = None


def _pulumi(settings: Settings) -> Check:
    try:
        cli = find_pulumi(settings)
    except PulumiNotFoundError as exc:
        return Check("pulumi", False, True, None, str(exc), "fix or unset SHIPYARD_PULUMI")
    if cli is None:
        return Check(
            "pulumi",
            False,
            True,
            None,
            "no Pulumi CLI found",
            f"run `shipyard pulumi install` (builds it with Go) or put pulumi >= {MIN_VERSION} "
            "on PATH",
        )
    return Check("pulumi", True, True, str(cli.path), f"v{cli.version} (from {cli.source})")


def _data_dir(settings: Settings) -> Check:
    path = settings.data_dir.expanduser().resolve()
    if writable_dir(path):
        return Check("data_dir", True, True, str(path), "writable")
    return Check(
        "data_dir",
        False,
        True,
        str(path),
        "not writable",
        "set SHIPYARD_DATA_DIR to a directory you can write",
    )


def _state_backend(settings: Settings, cli: PulumiCli | None) -> Check:
    """A ``file://`` directory must be writable; then ``pulumi stack ls`` logs in to the
    backend and lists its stacks with the engine's environment."""
    from shipyard.engine.checks import CheckFailedError, file_backend_writable, list_stacks

    name, url = "state_backend", settings.state_backend_url
    local = file_backend_writable(settings)
    if local is not None:
        root, writable = local
        if not writable:
            return Check(
                name,
                False,
                True,
                url,
                f"the state directory {root} is not writable",
                f"make {root} writable by this user, or set SHIPYARD_BACKEND_URL (or "
                "SHIPYARD_DATA_DIR) to one that is",
            )
        if not root.exists():
            return Check(name, True, True, url, "no state yet: created by the first operation")
    if cli is None:
        return Check(name, False, True, url, "not checked: no Pulumi CLI", "see `pulumi` above")
    try:
        stacks = list_stacks(settings, cli)
    except CheckFailedError as exc:
        return Check(
            name,
            False,
            True,
            url,
            str(exc),
            "make the backend reachable with the credentials in this environment, or set "
            "SHIPYARD_BACKEND_URL to one that is",
        )
    return Check(name, True, True, url, f"logged in, {len(stacks)} stack(s) listed")


_KMS_SCHEMES = frozenset({"awskms", "gcpkms", "azurekeyvault", "hashivault"})


def _secrets(settings: Settings) -> Check:
    """A KMS provider: its URL names a known service and a key (it is opened by each
    stack operation, with the cloud's credentials: not contacted here). Shipyard's own
    passphrase: its file reads and opens a stack Shipyard made (docs/decisions.md)."""
    from shipyard.engine.checks import CheckFailedError, check_passphrase

    name, provider = "secrets_provider", settings.secrets_provider
    if provider:
        parsed = urlparse(provider)
        if parsed.scheme in _KMS_SCHEMES and (parsed.netloc or parsed.path.strip("/")):
            return Check(
                name,
                True,
                True,
                provider,
                f"{parsed.scheme} key; opened by each stack operation (not contacted here)",
            )
        return Check(
            name,
            False,
            True,
            provider,
            "not a secrets provider Shipyard can use"
            + (
                ": with it set, Shipyard hands the CLI no passphrase"
                if provider == "passphrase"
                else ""
            ),
            "set SHIPYARD_SECRETS_PROVIDER to a KMS key URL ("
            + ", ".join(f"{scheme}://..." for scheme in sorted(_KMS_SCHEMES))
            + "), or unset it to use Shipyard's generated passphrase",
        )
    try:
        found = check_passphrase(settings)
    except CheckFailedError as exc:
        file = settings.data_dir.expanduser().resolve() / "pulumi-passphrase"
        return Check(
            name,
            False,
            True,
            f"passphrase ({file})",
            str(exc),
            f"put back in {file} the passphrase that made the stacks (from a backup)",
        )
    value = f"passphrase ({found.passphrase_file})"
    if not found.exists:
        return Check(name, True, True, value, "generated on first run")
    if found.checked_against is None:
        return Check(name, True, True, value, "readable; no stack yet to open with it")
    stack = found.checked_against.parent
    return Check(name, True, True, value, f"opens stack {stack.parent.name}/{stack.name}")


def _container_engine(settings: Settings) -> Check:
    from shipyard.targets.local.detect import detect_container_engine
    from shipyard.targets.local.errors import LocalTargetError

    try:
        engine = detect_container_engine(settings)
    except LocalTargetError as exc:
        return Check(
            "container_engine",
            False,
            False,
            None,
            "none works (needed by the local target)",
            str(exc),
        )
    return Check(
        "container_engine", True, False, str(engine.binary), f"{engine.kind} (local target)"
    )


def _proxy_switch() -> Check:
    from shipyard.targets.local.proxy import MIGRATE_REQ_SYSCTL, switch_drops_queued

    name, value = "proxy_switch", "net.ipv4.tcp_migrate_req"
    drops = switch_drops_queued()
    if drops is None:
        return Check(
            name,
            True,
            False,
            None,
            f"no {MIGRATE_REQ_SYSCTL} here: Caddy's reloads may reset connections arriving "
            "during a switch (Linux 5.14 and later can prevent it)",
        )
    if drops:
        return Check(
            name,
            False,
            False,
            f"{value}=0",
            "a local switch may reset connections that arrive during Caddy's reload",
            f"sysctl -w {value}=1 (and persist it in /etc/sysctl.d/)",
        )
    return Check(name, True, False, f"{value}=1", "local switches drop no connection")


def _database(settings: Settings) -> Check:
    found = check_database(settings)
    return Check("database", found.ok, found.required, found.value, found.detail, found.fix)


def _git() -> Check:
    found = shutil.which("git")
    if found is None:
        return Check(
            "git",
            False,
            False,
            None,
            "not found (the local target's builds and the tag watchers need it)",
            "install git and put it on PATH",
        )
    try:
        done = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("git", False, False, found, f"does not run: {exc}", "reinstall git")
    return Check("git", True, False, found, done.stdout.strip())


def _caddy(settings: Settings) -> Check:
    """The Caddy the local target routes through: the configured admin API answers, or a
    ``caddy`` binary runs (Shipyard starts it)."""
    name = "caddy"
    if settings.proxy_admin_url:
        import httpx

        admin = settings.proxy_admin_url.rstrip("/")
        try:
            httpx.get(f"{admin}/config/", timeout=3.0, trust_env=False).raise_for_status()
        except httpx.HTTPError as exc:
            return Check(
                name,
                False,
                False,
                admin,
                f"the admin API does not answer: {exc}",
                "start that Caddy, or unset SHIPYARD_PROXY_ADMIN_URL to let Shipyard start one",
            )
        return Check(name, True, False, admin, "admin API answers (local target)")
    found = shutil.which("caddy")
    fix = "install Caddy 2 (scripts/setup-container-engine.sh) and put it on PATH"
    if found is None:
        return Check(name, False, False, None, "not found (the local target needs it)", fix)
    try:
        done = subprocess.run(
            [found, "version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(name, False, False, found, f"does not run: {exc}", fix)
    return Check(name, True, False, found, done.stdout.strip().split(" ")[0] + " (local target)")


def run_checks(settings: Settings) -> list[Check]:
    """Every check, each one really tried (nothing is created on the way)."""
    pulumi = _pulumi(settings)
    cli = find_pulumi(settings) if pulumi.ok else None
    return [
        pulumi,
        _data_dir(settings),
        _state_backend(settings, cli),
        _secrets(settings),
        _database(settings),
        _git(),
        _container_engine(settings),
        _caddy(settings),
        _proxy_switch(),
    ]


@app.command()
@with_errors_handled
def doctor(
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show what Shipyard will use, each OK or with a one-line fix."""
    checks = run_checks(Settings())
    healthy = all(check.ok for check in checks if check.required)
    if output is OutputFormat.json:
        print_json({"ok": healthy, "checks": [asdict(check) for check in checks]})
    else:
        for check in checks:
            mark = (
                "[green]OK[/]  "
                if check.ok
                else ("[red]FAIL[/]" if check.required else "[yellow]WARN[/]")
            )
            console.print(
                f"{mark} {check.name:<17} {check.value or '-'}  ({check.detail})", highlight=False
            )
            if check.fix and not check.ok:
                console.print(f"      fix: {check.fix}", highlight=False)
    if not healthy:
        raise typer.Exit(EXIT_FAILURE)


pulumi_app = typer.Typer(help="The Pulumi CLI Shipyard drives.", no_args_is_help=True)
app.add_typer(pulumi_app, name="pulumi")


@pulumi_app.command("install")
@with_errors_handled
def pulumi_install() -> None:
    """Find the Pulumi CLI, or build the pinned version from its Go modules; print its path."""
    cli = ensure_pulumi(
        Settings(), progress=lambda line: console.print(line, highlight=False, style="dim")
    )
    console.print(f"Pulumi v{cli.version}: {cli.path}", highlight=False)
