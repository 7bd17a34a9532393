"""Builds: a git tag -> a labelled image named after the component, then a service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.targets.local import (
    BuildRequest,
    CliContainerEngine,
    ContainerSpec,
    GitSources,
    ImageBuilder,
    PortMapping,
)
from shipyard.targets.local.errors import ImageBuildError
from shipyard.targets.local.health import wait_until_healthy

pytestmark = pytest.mark.integration


def test_a_tag_builds_into_an_image_that_serves_it(
    containers: CliContainerEngine,
    sources: GitSources,
    make_repo: Callable[..., Any],
    test_run_labels: dict[str, str],
    container_name: Callable[[str], str],
    free_port: Callable[[], int],
) -> None:
    repo = make_repo()
    commit = repo.release("v1.0.0")
    builder = ImageBuilder(containers, sources)
    lines: list[str] = []

    built = builder.build(
        BuildRequest("default/greeter", str(repo.path), "v1.0.0", labels=test_run_labels),
        on_line=lines.append,
    )

    assert built.reference == "localhost/default/greeter:v1.0.0"
    assert built.commit == commit
    assert not built.pushed
    assert lines
    image = containers.inspect_image(built.reference)
    assert image.id == built.image_id
    assert image.labels["shipyard.dev/commit"] == commit
    assert image.labels["shipyard.dev/tag"] == "v1.0.0"

    port = free_port()
    containers.run(
        ContainerSpec(
            name=container_name("built"),
            image=built.reference,
            ports=(PortMapping(8080, port),),
            labels=test_run_labels,
        )
    )
    assert wait_until_healthy(f"http://127.0.0.1:{port}/version").text == "v1.0.0"


def test_a_broken_dockerfile_names_the_component_tag_and_log_tail(
    containers: CliContainerEngine,
    sources: GitSources,
    make_repo: Callable[..., Any],
    test_run_labels: dict[str, str],
) -> None:
    repo = make_repo("FROM scratch\nRUN this-is-not-a-command\n")
    repo.release("v1")
    with pytest.raises(ImageBuildError) as caught:
        ImageBuilder(containers, sources).build(
            BuildRequest("default/broken", str(repo.path), "v1", labels=test_run_labels)
        )
    message = str(caught.value)
    assert message.startswith("default/broken at tag v1")
    assert "Last lines of the build log" in message
    assert "this-is-not-a-command" in message
