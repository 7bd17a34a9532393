"""The state Shipyard writes stays usable by the plain ``pulumi`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from shipyard.engine import ConfigValue, Engine, StackRef
from shipyard.engine.testing import FileResource
from shipyard.engine.toolchain import PulumiCli

pytestmark = pytest.mark.integration


def test_the_plain_cli_lists_and_exports_shipyards_stacks(
    engine: Engine,
    pulumi_cli: PulumiCli,
    new_ref: Callable[[], StackRef],
    tmp_path: Path,
    data_dir: Path,
) -> None:
    refs = [new_ref(), new_ref()]
    for index, ref in enumerate(refs):

        def program(index: int = index) -> None:
            FileResource("file", str(tmp_path / f"out-{index}.txt"), f"{index}")
            pulumi.export("secret", pulumi.Config().require_secret("token"))

        engine.up(ref, program, config={"token": ConfigValue(f"token-{index}", secret=True)})

    home = tmp_path / "plain-pulumi-home"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_BACKEND_URL": engine.backend_url,
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(data_dir / "pulumi-passphrase"),
    }

    def pulumi_cmd(*args: str) -> str:
        done = subprocess.run(
            [str(pulumi_cli.path), "--non-interactive", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = {entry["name"] for entry in json.loads(pulumi_cmd("stack", "ls", "--all", "--json"))}
    assert {f"organization/{ref.project}/{ref.stack}" for ref in refs} <= listed

    for index, ref in enumerate(refs):
        name = f"organization/{ref.project}/{ref.stack}"
        exported = json.loads(pulumi_cmd("stack", "export", "--stack", name, "--show-secrets"))
        urns = [r["urn"] for r in exported["deployment"]["resources"]]
        assert any(urn.endswith("::file") for urn in urns)
        stack_resource = next(
            r for r in exported["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack"
        )
        # --show-secrets decrypted with nothing but the passphrase file
        assert stack_resource["outputs"]["secret"]["plaintext"] == json.dumps(f"token-{index}")
