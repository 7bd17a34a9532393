"""The GCP target's Pulumi programs.

:func:`build_program` (build once, the default): per component, in the build project, the
APIs it needs, one Artifact Registry repository (immutable tags; the cleanup keeps every
tagged image), the build account with the roles a build needs, and one Cloud Build
trigger on the tag pattern. :func:`gcp_program`: per component and environment, the
APIs, the runtime account and, once there is a release, the Cloud Run v2 service on its
digest (traffic 100% to the latest revision), the environment's Cloud Run service agent
as a reader of the repository and ``allUsers`` as invoker where ``public``. With ``build:
per-environment`` the environment's stack declares the build resources too, in its own
project. Outputs: see docs/gcp-target.md.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_gcp as gcp
from pulumi import Resource, ResourceOptions

from shipyard.catalog.score import Probe
from shipyard.engine import Program
from shipyard.targets.gcp.build_config import generated_build, trigger_build
from shipyard.targets.gcp.plan import GcpPlan, image_for

__all__ = ["BUILD_APIS", "RUN_APIS", "build_program", "gcp_program"]

BUILD_APIS = ("cloudbuild", "artifactregistry", "iam", "logging")
RUN_APIS = ("run", "iam")
CLEANUP_UNTAGGED_AFTER = "604800s"
"""Untagged images (a layer list a push replaced) are deleted after 7 days."""


def _apis(project: str, names: tuple[str, ...], prefix: str = "api") -> list[Resource]:
    """Enable each API; never disabled on destroy (other stacks and people use them)."""
    return [
        gcp.projects.Service(
            f"{prefix}-{name}",
            project=project,
            service=f"{name}.googleapis.com",
            disable_on_destroy=False,
            disable_dependent_services=False,
        )
        for name in names
    ]


def _registry(plan: GcpPlan, apis: list[Resource]) -> gcp.artifactregistry.Repository:
    config = plan.config
    return gcp.artifactregistry.Repository(
        "registry",
        project=config.registry_project,
        location=config.registry_region,
        repository_id=config.repository_id,
        format="DOCKER",
        description=f"Images of {plan.desired.namespace}/{plan.desired.name}, built by Shipyard",
        labels={k: v for k, v in plan.desired.labels.items() if k != "shipyard-environment"}
        if not config.per_environment
        else plan.desired.labels,
        docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
        cleanup_policy_dry_run=False,
        cleanup_policies=[
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id=f"keep-last-{config.keep_versions}",
                action="KEEP",
                most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                    keep_count=config.keep_versions
                ),
            ),
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="keep-tagged",
                action="KEEP",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="TAGGED"
                ),
            ),
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="delete-untagged",
                action="DELETE",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="UNTAGGED", older_than=CLEANUP_UNTAGGED_AFTER
                ),
            ),
        ],
        opts=ResourceOptions(depends_on=apis),
    )


def _account(
    plan: GcpPlan, kind: Literal["build", "run"], purpose: str, apis: list[Resource]
) -> gcp.serviceaccount.Account:
    config = plan.config
    project = config.registry_project if kind == "build" else config.project
    where = (
        plan.desired.name
        if kind == "build" and not config.per_environment
        else (f"{plan.desired.name} ({plan.desired.environment})")
    )
    return gcp.serviceaccount.Account(
        f"{kind}-account",
        project=project,
        account_id=config.account_id(kind),
        display_name=f"{where} {purpose}"[:100],
        opts=ResourceOptions(depends_on=apis),
    )


def _build_roles(
    plan: GcpPlan, registry: gcp.artifactregistry.Repository, builder: gcp.serviceaccount.Account
) -> list[Resource]:
    config, member = plan.config, plan.config.build_member
    return [
        gcp.artifactregistry.RepositoryIamMember(
            "build-registry-writer",
            project=config.registry_project,
            location=config.registry_region,
            repository=config.repository_id,
            role="roles/artifactregistry.writer",
            member=member,
            opts=ResourceOptions(depends_on=[builder, registry]),
        ),
        gcp.projects.IAMMember(
            "build-log-writer",
            project=config.registry_project,
            role="roles/logging.logWriter",
            member=member,
            opts=ResourceOptions(depends_on=[builder]),
        ),
    ]


def _trigger(
    plan: GcpPlan, builder: gcp.serviceaccount.Account, after: list[Resource]
) -> gcp.cloudbuild.Trigger:
    config, desired = plan.config, plan.desired
    github = repository_event = None
    if plan.github is not None:
        github = gcp.cloudbuild.TriggerGithubArgs(
            owner=plan.github.owner,
            name=plan.github.name,
            push=gcp.cloudbuild.TriggerGithubPushArgs(tag=desired.tag_pattern),
        )
    else:
        repository = gcp.cloudbuildv2.Repository(
            "source",
            project=config.registry_project,
            location=config.registry_region,
            name=config.repository_id,
            parent_connection=config.connection_resource,
            remote_uri=plan.source_url,
            opts=ResourceOptions(depends_on=after),
        )
        after = [*after, repository]
        repository_event = gcp.cloudbuild.TriggerRepositoryEventConfigArgs(
            repository=repository.id,
            push=gcp.cloudbuild.TriggerRepositoryEventConfigPushArgs(tag=desired.tag_pattern),
        )
    tags = ["shipyard", config.repository_id]
    build = generated_build(plan.image, plan.build, tags=tags) if plan.build else None
    substitutions = {"_SHIPYARD_IMAGE": plan.image, "_SHIPYARD_REGION": config.region}
    if config.per_environment:
        substitutions["_SHIPYARD_ENVIRONMENT"] = desired.environment
        substitutions["_SHIPYARD_SERVICE"] = config.service_name
    scope = f" for {desired.environment}" if config.per_environment else ""
    return gcp.cloudbuild.Trigger(
        "trigger",
        project=config.registry_project,
        location=config.registry_region,
        name=config.trigger_name,
        description=(
            f"Shipyard: build {desired.namespace}/{desired.name}{scope} on tags matching "
            f"{desired.tag_pattern}"
        )[:100],
        service_account=config.account_resource("build"),
        github=github,
        repository_event_config=repository_event,
        filename=config.cloudbuild_file,
        build=trigger_build(build) if build else None,
        substitutions=substitutions,
        tags=tags,
        opts=ResourceOptions(depends_on=[builder, *after]),
    )


def _declare_build(plan: GcpPlan) -> gcp.cloudbuild.Trigger:
    shared = RUN_APIS if plan.config.per_environment else ()  # the stack enables those
    names = tuple(name for name in BUILD_APIS if name not in shared)
    apis = _apis(plan.config.registry_project, names, "build-api")
    registry = _registry(plan, apis)
    builder = _account(plan, "build", "builds", apis)
    roles = _build_roles(plan, registry, builder)
    return _trigger(plan, builder, [*apis, *roles])


def _probe(
    probe: Probe | None, kind: Literal["startup", "liveness"]
) -> (
    gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs
    | gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs
    | None
):
    """Score's readinessProbe as Cloud Run's startup probe (Cloud Run sends no traffic to
    an instance before it passes), livenessProbe as its liveness probe; httpGet only
    (exec is refused by :func:`~shipyard.targets.gcp.plan.gcp_plan`)."""
    if probe is None or probe.kind != "http":
        return None
    if kind == "startup":
        return gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
            http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                path=probe.path or "/",
                port=probe.port,
                http_headers=[
                    gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetHttpHeaderArgs(
                        name=name, value=value
                    )
                    for name, value in probe.headers
                ]
                or None,
            )
        )
    return gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
        http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
            path=probe.path or "/",
            port=probe.port,
            http_headers=[
                gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetHttpHeaderArgs(
                    name=name, value=value
                )
                for name, value in probe.headers
            ]
            or None,
        )
    )


def _containers(plan: GcpPlan, image: str) -> list[gcp.cloudrunv2.ServiceTemplateContainerArgs]:
    desired, scaling = plan.desired, plan.desired.scaling
    port = desired.ports[0].target_port if desired.ports else None
    containers = []
    for container in desired.containers:
        ingress = container.name == plan.ingress_container
        limits = {"cpu": scaling.cpu, "memory": scaling.memory} if ingress else None
        containers.append(
            gcp.cloudrunv2.ServiceTemplateContainerArgs(
                name=container.name,
                image=image if container.build is not None else str(container.image),
                commands=list(container.command) or None,
                args=list(container.args) or None,
                ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=port)
                if ingress and port is not None
                else None,
                envs=[
                    gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=name, value=value)
                    for name, value in sorted(container.variables.items())
                ]
                or None,
                resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(limits=limits)
                if limits
                else None,
                startup_probe=_probe(container.readiness_probe, "startup"),  # type: ignore[arg-type]
                liveness_probe=_probe(container.liveness_probe, "liveness"),  # type: ignore[arg-type]
            )
        )
    return containers


def _service(
    plan: GcpPlan, image: str, runtime: gcp.serviceaccount.Account, after: list[Resource]
) -> gcp.cloudrunv2.Service:
    config, scaling = plan.config, plan.desired.scaling
    return gcp.cloudrunv2.Service(
        "service",
        project=config.project,
        location=config.region,
        name=config.service_name,
        ingress=config.ingress,
        deletion_protection=config.deletion_protection,
        labels=plan.desired.labels,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=config.account_email("run"),
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                min_instance_count=scaling.min_instances,
                max_instance_count=scaling.max_instances,
            ),
            containers=_containers(plan, image),
        ),
        # Explicit, every up: all traffic to the revision this up creates. Left out, an
        # update keeps whatever split the service had (a revision pinned in the console
        # would go on serving, and the deploy would "succeed" at 0%).
        traffics=[
            gcp.cloudrunv2.ServiceTrafficArgs(
                type="TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent=100
            )
        ],
        opts=ResourceOptions(depends_on=[runtime, *after]),
    )


def _reader(plan: GcpPlan, apis: list[Resource]) -> list[Resource]:
    """The environment's Cloud Run service agent (which pulls the image) may read the
    build project's repository; nothing to grant within one project."""
    config = plan.config
    if config.registry_project == config.project:
        return []
    agent = gcp.projects.ServiceIdentity(
        "run-agent",
        project=config.project,
        service="run.googleapis.com",
        opts=ResourceOptions(depends_on=apis),
    )
    return [
        agent,
        gcp.artifactregistry.RepositoryIamMember(
            "run-agent-registry-reader",
            project=config.registry_project,
            location=config.registry_region,
            repository=config.repository_id,
            role="roles/artifactregistry.reader",
            member=agent.member,
        ),
    ]


def _service_roles(plan: GcpPlan, service: gcp.cloudrunv2.Service) -> None:
    config, after = plan.config, ResourceOptions(depends_on=[service])
    if config.build_deploys:  # asked for: the repository's own build deploys
        gcp.cloudrunv2.ServiceIamMember(
            "build-run-developer",
            project=config.project,
            location=config.region,
            name=config.service_name,
            role="roles/run.developer",
            member=config.build_member,
            opts=after,
        )
        gcp.serviceaccount.IAMMember(
            "build-acts-as-runtime",
            service_account_id=config.account_resource("run"),
            role="roles/iam.serviceAccountUser",
            member=config.build_member,
            opts=after,
        )
    if plan.desired.public:
        gcp.cloudrunv2.ServiceIamMember(
            "public-invoker",
            project=config.project,
            location=config.region,
            name=config.service_name,
            role="roles/run.invoker",
            member="allUsers",
            opts=after,
        )


def build_program(plan: GcpPlan) -> Program:
    """Build once: the component's repository, build account and trigger (build project)."""

    def program() -> None:
        trigger = _declare_build(plan)
        pulumi.export("registry_uri", plan.config.registry_uri)
        pulumi.export("image", plan.image)
        pulumi.export("trigger_id", trigger.trigger_id)

    return program


def gcp_program(plan: GcpPlan) -> Program:
    """The stack of ``plan``'s (component, environment); no service until a release."""

    def program() -> None:
        config = plan.config
        apis = _apis(config.project, RUN_APIS)
        trigger = _declare_build(plan) if config.per_environment else None
        runtime = _account(plan, "run", "runtime", apis)
        pulumi.export("registry_uri", config.registry_uri)
        pulumi.export("image", plan.image)
        pulumi.export("trigger_id", trigger.trigger_id if trigger is not None else None)
        pulumi.export("service", config.service_name)
        release = plan.release
        if release is None:
            pulumi.export("url", None)
            pulumi.export("image_digest", None)
            pulumi.export("tag", None)
            return
        service = _service(plan, image_for(release), runtime, [*apis, *_reader(plan, apis)])
        _service_roles(plan, service)
        pulumi.export("url", service.uri)
        pulumi.export("image_digest", release.digest)
        pulumi.export("tag", release.tag)

    return program
