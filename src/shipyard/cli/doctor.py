"""``shipyard doctor``: what Shipyard will use, each OK or a one-line fix."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from shipyard.cli._app import OutputFormat, OutputOption, app
from shipyard.cli._utilities import EXIT_FAILURE, console, print_json, with_errors_handled
from shipyard.engine.toolchain import MIN_VERSION, PulumiNotFoundError, ensure_pulumi, find_pulumi
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


def _writable_dir(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def _data_dir(settings: Settings) -> Check:
    path = settings.data_dir.expanduser().resolve()
    if _writable_dir(path):
        return Check("data_dir", True, True, str(path), "writable")
    return Check(
        "data_dir",
        False,
        True,
        str(path),
        "not writable",
        "set SHIPYARD_DATA_DIR to a directory you can write",
    )


def _state_backend(settings: Settings) -> Check:
    url = settings.state_backend_url
    return Check("state_backend", True, True, url, "Pulumi state backend")


def _secrets(settings: Settings) -> Check:
    if settings.secrets_provider:
        return Check("secrets_provider", True, True, settings.secrets_provider, "configured")
    passphrase = settings.data_dir.expanduser().resolve() / "pulumi-passphrase"
    detail = "passphrase file present" if passphrase.exists() else "generated on first run"
    return Check("secrets_provider", True, True, f"passphrase ({passphrase})", detail)


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
    return Check("database", True, True, settings.sqlalchemy_url, "Shipyard's own data")


def run_checks(settings: Settings) -> list[Check]:
    return [
        _pulumi(settings),
        _data_dir(settings),
        _state_backend(settings),
        _secrets(settings),
        _container_engine(settings),
        _proxy_switch(),
        _database(settings),
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
