"""Real git repositories, a real container engine and real HTTP for the local target.

Everything a test run makes carries the label ``shipyard.dev/test-run=<uuid>``; the
session finalizer removes it all by that label and asserts nothing is left.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.settings import Settings
from shipyard.targets.local import (
    BuildSpec,
    CliContainerEngine,
    GitSources,
    detect_container_engine,
    shipyard_labels,
)

BUSYBOX = Path("/bin/busybox")
TEST_RUN_LABEL = "shipyard.dev/test-run"

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Shipyard Tests",
            "-c",
            "user.email=tests@shipyard.invalid",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


class Repo:
    """A git repository of a component that serves ``/version`` (the tag) over HTTP."""

    def __init__(self, path: Path, dockerfile: str = DOCKERFILE) -> None:
        self.path = path
        path.mkdir(parents=True)
        git(path, "init", "--quiet")
        shutil.copy(BUSYBOX, path / "busybox")
        (path / "www").mkdir()
        (path / "Dockerfile").write_text(dockerfile)

    def release(self, tag: str, *, annotated: bool = False) -> str:
        """Commit ``www/version`` = ``tag``, tag it; the commit."""
        (self.path / "www" / "version").write_text(tag)
        git(self.path, "add", "--all")
        git(self.path, "commit", "--quiet", "--message", f"release {tag}")
        git(self.path, "tag", *(["-a", "-m", tag] if annotated else []), tag)
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def test_run_labels() -> dict[str, str]:
    return {TEST_RUN_LABEL: uuid.uuid4().hex[:12]}


@pytest.fixture(scope="session")
def containers(test_run_labels: dict[str, str]) -> Iterator[CliContainerEngine]:
    if not BUSYBOX.exists():
        pytest.fail("/bin/busybox is missing: run scripts/setup-container-engine.sh")
    found = detect_container_engine(Settings())
    yield found
    for container in found.list_containers(test_run_labels):
        found.remove(container.id)
    for image in found.list_images(test_run_labels, include_untagged=True):
        found.remove_image(image.id)
    assert found.list_containers(test_run_labels) == []
    assert found.list_images(test_run_labels, include_untagged=True) == []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", source_roots=[tmp_path]
    )


@pytest.fixture
def sources(settings: Settings) -> GitSources:
    return GitSources.from_settings(settings)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Repo]:
    count = 0

    def make(dockerfile: str = DOCKERFILE) -> Repo:
        nonlocal count
        count += 1
        return Repo(tmp_path / f"repo-{count}", dockerfile)

    return make


@pytest.fixture
def container_name(test_run_labels: dict[str, str]) -> Callable[[str], str]:
    run = test_run_labels[TEST_RUN_LABEL]
    return lambda name: f"shipyard-test-{run}-{name}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A loopback port nothing listens on right now."""
    return _free_port


@pytest.fixture(scope="session")
def release_images(
    containers: CliContainerEngine,
    test_run_labels: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """Images built once per run from a repo tagged v1 then v2; each serves ``/version``
    = its tag. Tag -> image reference."""
    repo = Repo(tmp_path_factory.mktemp("served") / "repo")
    images = {}
    for tag in ("v1", "v2"):
        commit = repo.release(tag)
        reference = f"localhost/shipyard-test/{test_run_labels[TEST_RUN_LABEL]}:{tag}"
        labels = {**test_run_labels, **shipyard_labels("default/greeter", tag=tag, commit=commit)}
        containers.build(BuildSpec(reference, repo.path, labels=labels))
        images[tag] = reference
    return images


@pytest.fixture(scope="session")
def served_image(release_images: dict[str, str]) -> str:
    """The image that serves ``/version`` = v1."""
    return release_images["v1"]
