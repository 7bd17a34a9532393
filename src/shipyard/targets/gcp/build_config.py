"""The build Shipyard generates when a repository has no ``cloudbuild.yaml`` of its own.

:func:`generated_build` returns it in ``cloudbuild.yaml``'s own shape (what ``gcloud
builds submit --config`` reads), :func:`trigger_build` as the trigger's ``build`` input.
Steps: ``docker build``, push tagged ``$TAG_NAME``, print the pushed digest; ``images``
makes Cloud Build record the digest in ``results.images``, where deploys read it.
"""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp

from shipyard.catalog.score import BuildSpec

__all__ = ["DOCKER_BUILDER", "generated_build", "trigger_build"]

DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
_TIMEOUT = "1200s"


def generated_build(image: str, build: BuildSpec, *, tags: list[str]) -> dict[str, Any]:
    """The build of ``image`` (a repository path, no tag) from ``build``'s Dockerfile."""
    tagged = f"{image}:$TAG_NAME"
    dockerfile = build.dockerfile if build.context == "." else f"{build.context}/{build.dockerfile}"
    digest = f"docker inspect --format='{{{{index .RepoDigests 0}}}}' {tagged}"
    return {
        "steps": [
            {
                "id": "build",
                "name": DOCKER_BUILDER,
                "args": ["build", "-t", tagged, "-f", dockerfile, build.context],
            },
            {"id": "push", "name": DOCKER_BUILDER, "args": ["push", tagged]},
            {"id": "digest", "name": DOCKER_BUILDER, "entrypoint": "bash", "args": ["-c", digest]},
        ],
        "images": [tagged],
        "tags": tags,
        "timeout": _TIMEOUT,
        "options": {"logging": "CLOUD_LOGGING_ONLY"},
    }


def trigger_build(config: dict[str, Any]) -> gcp.cloudbuild.TriggerBuildArgs:
    """A :func:`generated_build` as ``gcp.cloudbuild.Trigger``'s ``build``."""
    steps = [
        gcp.cloudbuild.TriggerBuildStepArgs(
            id=step.get("id"),
            name=step["name"],
            entrypoint=step.get("entrypoint"),
            args=list(step["args"]),
        )
        for step in config["steps"]
    ]
    return gcp.cloudbuild.TriggerBuildArgs(
        steps=steps,
        images=list(config["images"]),
        tags=list(config["tags"]),
        timeout=config["timeout"],
        options=gcp.cloudbuild.TriggerBuildOptionsArgs(logging=config["options"]["logging"]),
    )
