"""A revision's files reach docker/podman as read-only bind mounts, before the ``--`` that
ends the options; a path the ``--mount`` syntax cannot carry is refused, not misread."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.targets.local._cli_args import run_args
from shipyard.targets.local.containers import ContainerSpec, Mount


def test_a_mount_is_read_only_and_refuses_what_its_option_cannot_carry() -> None:
    assert Mount(Path("/d/0-motd"), "/etc/motd").option() == (
        "type=bind,src=/d/0-motd,dst=/etc/motd,ro"
    )
    with pytest.raises(ValueError, match="comma"):
        Mount(Path("/d/x"), "/etc/a,src=/etc/shadow").option()


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_mounts_come_before_the_image(kind: str) -> None:
    spec = ContainerSpec(
        name="web",
        image="sha256:aa",
        mounts=(Mount(Path("/d/0-a.ini"), "/etc/a.ini"), Mount(Path("/d/1-b"), "/b")),
    )

    args = run_args(kind, spec)  # type: ignore[arg-type]

    end = args.index("--")
    assert args[end + 1] == "sha256:aa"
    mounts = [args[i + 1] for i, arg in enumerate(args[:end]) if arg == "--mount"]
    assert mounts == [
        "type=bind,src=/d/0-a.ini,dst=/etc/a.ini,ro",
        "type=bind,src=/d/1-b,dst=/b,ro",
    ]
