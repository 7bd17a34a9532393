"""The GCP target's Pulumi program, per component and environment.

Always: an Artifact Registry Docker repository (keeping the last N versions), a build and
a runtime service account, the build account's roles, and a Cloud Build trigger on the
tag pattern. Once there is a release: the Cloud Run v2 service running its digest, the
build account's ``run.developer`` on it, and ``allUsers`` as invoker where ``public``.
Outputs: ``url``, ``trigger_id``, ``registry_uri``, ``image``, ``image_digest``, ``tag``.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_gcp as gcp
from pulumi import ResourceOptions

from shipyard.engine import Program
from shipyard.targets.gcp.build_config import generated_build, trigger_build
from shipyard.targets.gcp.plan import GcpPlan, image_for

__all__ = ["gcp_program"]


def _registry(plan: GcpPlan) -> gcp.artifactregistry.Repository:
    config = plan.config
    return gcp.artifactregistry.Repository(
        "registry",
        project=config.project,
        location=config.region,
        repository_id=config.repository_id,
        format="DOCKER",
        description=f"Images of {plan.desired.component}, built by Shipyard",
        labels=plan.desired.labels,
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
                id="delete-older",
                action="DELETE",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="ANY"
                ),
            ),
        ],
    )


def _account(
    plan: GcpPlan, kind: Literal["build", "run"], purpose: str
) -> gcp.serviceaccount.Account:
    config = plan.config
    return gcp.serviceaccount.Account(
        f"{kind}-account",
        project=config.project,
        account_id=config.account_id(kind),
        display_name=f"{plan.desired.component} ({plan.desired.environment}) {purpose}",
    )


def _build_roles(
    plan: GcpPlan,
    registry: gcp.artifactregistry.Repository,
    builder: gcp.serviceaccount.Account,
    runtime: gcp.serviceaccount.Account,
) -> None:
    config, member = plan.config, plan.config.build_member
    after = ResourceOptions(depends_on=[builder])
    gcp.artifactregistry.RepositoryIamMember(
        "build-registry-writer",
        project=config.project,
        location=config.region,
        repository=config.repository_id,
        role="roles/artifactregistry.writer",
        member=member,
        opts=ResourceOptions(depends_on=[builder, registry]),
    )
    gcp.serviceaccount.IAMMember(
        "build-acts-as-runtime",
        service_account_id=config.account_resource("run"),
        role="roles/iam.serviceAccountUser",
        member=member,
        opts=ResourceOptions(depends_on=[builder, runtime]),
    )
    gcp.projects.IAMMember(
        "build-log-writer",
        project=config.project,
        role="roles/logging.logWriter",
        member=member,
        opts=after,
    )


def _trigger(plan: GcpPlan, builder: gcp.serviceaccount.Account) -> gcp.cloudbuild.Trigger:
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
            project=config.project,
            location=config.region,
            name=config.repository_id,
            parent_connection=config.connection_resource,
            remote_uri=plan.source_url,
        )
        repository_event = gcp.cloudbuild.TriggerRepositoryEventConfigArgs(
            repository=repository.id,
            push=gcp.cloudbuild.TriggerRepositoryEventConfigPushArgs(tag=desired.tag_pattern),
        )
    tags = ["shipyard", config.repository_id]
    build = generated_build(plan.image, plan.build, tags=tags) if plan.build else None
    return gcp.cloudbuild.Trigger(
        "trigger",
        project=config.project,
        location=config.region,
        name=config.trigger_name,
        description=f"Shipyard: build {desired.component} on tags matching {desired.tag_pattern}",
        service_account=config.account_resource("build"),
        github=github,
        repository_event_config=repository_event,
        filename=config.cloudbuild_file,
        build=trigger_build(build) if build else None,
        substitutions={
            "_SHIPYARD_IMAGE": plan.image,
            "_SHIPYARD_SERVICE": config.service_name,
            "_SHIPYARD_REGION": config.region,
        },
        tags=tags,
        opts=ResourceOptions(depends_on=[builder]),
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
            )
        )
    return containers


def _service(
    plan: GcpPlan, image: str, runtime: gcp.serviceaccount.Account
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
        opts=ResourceOptions(depends_on=[runtime]),
    )


def _service_roles(plan: GcpPlan, service: gcp.cloudrunv2.Service) -> None:
    config, after = plan.config, ResourceOptions(depends_on=[service])
    gcp.cloudrunv2.ServiceIamMember(
        "build-run-developer",
        project=config.project,
        location=config.region,
        name=config.service_name,
        role="roles/run.developer",
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


def gcp_program(plan: GcpPlan) -> Program:
    """The stack of ``plan``'s (component, environment); no service until a release."""

    def program() -> None:
        registry = _registry(plan)
        builder = _account(plan, "build", "builds")
        runtime = _account(plan, "run", "runtime")
        _build_roles(plan, registry, builder, runtime)
        trigger = _trigger(plan, builder)
        pulumi.export("registry_uri", plan.config.registry_uri)
        pulumi.export("image", plan.image)
        pulumi.export("trigger_id", trigger.trigger_id)
        release = plan.release
        if release is None:
            pulumi.export("url", None)
            pulumi.export("image_digest", None)
            pulumi.export("tag", None)
            return
        service = _service(plan, image_for(release), runtime)
        _service_roles(plan, service)
        pulumi.export("url", service.uri)
        pulumi.export("image_digest", release.digest)
        pulumi.export("tag", release.tag)

    return program
