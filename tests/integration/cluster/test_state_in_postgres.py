"""Pulumi's state in the store's PostgreSQL: every host sees every stack, and a stack's
secrets decrypt on any host sharing the passphrase setting."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from shipyard.engine import ConfigValue, Engine, StackRef
from shipyard.engine.checks import list_stacks
from shipyard.engine.testing import FileResource
from shipyard.engine.toolchain import PulumiCli
from shipyard.settings import Settings

pytestmark = pytest.mark.integration

HostSettings = Callable[[str], Settings]


def _program(target: Path, content: str) -> Callable[[], None]:
    def program() -> None:
        resource = FileResource("file", str(target), content)
        pulumi.export("path", resource.id)
        pulumi.export("token", pulumi.Config().require_secret("token"))

    return program


def _plain_cli(cli: PulumiCli, home: Path, url: str, passphrase: str, *args: str) -> str:
    """The CLI as an operator runs it by hand: nothing of Shipyard's but the URL."""
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": url,
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    done = subprocess.run(
        [str(cli.path), *args, "--non-interactive"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_hosts_share_state_and_secrets_through_the_database(
    host_settings: HostSettings,
    shared_passphrase: str,
    pulumi_cli: PulumiCli,
    tmp_path: Path,
) -> None:
    a, b = host_settings("host-a"), host_settings("host-b")
    url = a.state_backend_url
    assert url.startswith("postgres://") and "table=pulumi_state" in url
    assert b.state_backend_url == url
    ref = StackRef.of(f"test/c{uuid.uuid4().hex[:8]}", "prod")
    target = tmp_path / "out.txt"
    config = {"token": ConfigValue("s3cr3t-token", secret=True)}

    first = Engine(a, pulumi_cli).up(ref, _program(target, "one"), config=config)
    assert target.read_text() == "one" and first.outputs["token"].secret
    # Host B has no work dir, no state and no passphrase file of its own.
    second = Engine(b, pulumi_cli).up(ref, _program(target, "two"), config=config)

    assert second.changes.get("update") == 1
    assert target.read_text() == "two"
    assert second.outputs["token"].value == "s3cr3t-token"
    assert second.outputs["token"].secret
    assert not (b.data_dir / "pulumi-passphrase").exists()
    assert not (a.data_dir / "state").exists()  # nothing on either host's disk

    home = tmp_path / "operator"
    listed = json.loads(
        _plain_cli(pulumi_cli, home, url, shared_passphrase, "stack", "ls", "--all", "--json")
    )
    assert [s["name"] for s in listed] == [f"organization/{ref.project}/{ref.stack}"]
    exported = json.loads(
        _plain_cli(
            pulumi_cli,
            home,
            url,
            shared_passphrase,
            "stack",
            "export",
            "--stack",
            f"organization/{ref.project}/{ref.stack}",
        )
    )
    urns = [r["urn"] for r in exported["deployment"]["resources"]]
    assert any(urn.endswith("::file") for urn in urns), urns
    assert "s3cr3t-token" not in json.dumps(exported)  # secrets stay encrypted


def test_listing_many_stacks_of_the_shared_backend_returns(
    host_settings: HostSettings, shared_passphrase: str, pulumi_cli: PulumiCli, tmp_path: Path
) -> None:
    # Pulumi's postgres:// backend pools 2 x GOMAXPROCS connections: on this 2-core machine
    # a plain `pulumi stack ls` of 8 stacks never returns. Shipyard's runs get more.
    settings = host_settings("host-a")
    url = settings.state_backend_url
    home = tmp_path / "operator"
    for index in range(10):
        with contextlib.suppress(AssertionError):  # created; no Pulumi.yaml to save config in
            _plain_cli(
                pulumi_cli,
                home,
                url,
                shared_passphrase,
                "stack",
                "init",
                f"organization/p{index}/prod",
            )

    listed = list_stacks(settings, pulumi_cli)  # `shipyard doctor`'s check, 60 s at most

    assert sorted(listed) == sorted(f"organization/p{index}/prod" for index in range(10))
