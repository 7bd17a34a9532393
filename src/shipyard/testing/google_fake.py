"""A fake Google Cloud, in memory, for tests: one model of some projects that both Pulumi's
mocks (:class:`GoogleMocks`, :class:`FakeEngine`) and a REST server (:func:`serve`) act on.

A resource the gcp program declares under the mocks (an API enabled, a repository, a
trigger, a service account, an IAM member, a Cloud Run service) is what the REST calls
then find; a call to something never created answers as Google does (404 ``NOT_FOUND``,
400 ``FAILED_PRECONDITION``/``INVALID_ARGUMENT``, 403 ``SERVICE_DISABLED`` for an API not
enabled). Request and response bodies are held to Google's discovery documents, as
shipped by PyPI's ``google-api-python-client`` (a dev dependency): a field they do not
define is refused, enums and formats are enforced, and the formats their descriptions
state (a trigger's ``serviceAccount`` as ``projects/{project}/serviceAccounts/{email}``).

A tag pushed to a repository (:meth:`FakeGoogle.push_tag`) fires every trigger watching
it; a build advances one status per read, and on success pushes its image into the
repository with a digest (refused when the tag exists in a repository with immutable
tags, as Artifact Registry does). Nothing here runs in production.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import importlib.util
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pulumi
import pulumi.runtime
from pulumi.runtime import settings as pulumi_settings

from shipyard.engine import (
    CancelToken,
    EventSink,
    OperationKind,
    OperationResult,
    Program,
    StackNotFoundError,
    StackOutput,
    StackRef,
)

__all__ = [
    "FakeEngine",
    "FakeGoogle",
    "GoogleError",
    "GoogleMocks",
    "check_body",
    "serve",
    "write_adc",
]

TOKEN = "fake-access-token"  # noqa: S105 - what the fake token endpoint hands out
_API = {
    "cloudbuild": "cloudbuild.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "run": "run.googleapis.com",
    "iam": "iam.googleapis.com",
}
_SERVICE_ACCOUNT = re.compile(
    r"^projects/([a-z][a-z0-9-]{4,28}[a-z0-9])/serviceAccounts/([a-z][a-z0-9-]{4,28}[a-z0-9])"
    r"@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$"
)
_ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
_REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_SERVICE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$")
_TRIGGER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$")
_SUBSTITUTION = re.compile(r"^_[A-Z0-9_]+$")
_IMAGE_BY_DIGEST = re.compile(
    r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^@:]+)@(sha256:[0-9a-f]{64})$"
)
_DONE = frozenset({"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})
_USER_LOGGING = frozenset({"CLOUD_LOGGING_ONLY", "GCS_ONLY", "NONE"})


class GoogleError(Exception):
    """An error as a Google API answers it (``{"error": {code, message, status}}``)."""

    def __init__(self, code: int, status: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                }
            ]
        return {"error": error}


def _not_found(what: str) -> GoogleError:
    return GoogleError(404, "NOT_FOUND", f"Requested entity was not found: {what}")


def _invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


# -- discovery documents -----------------------------------------------------------------


@cache
def _document(api: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the fake Google needs google-api-python-client (a dev dependency) for Google's "
            "discovery documents: run `uv sync --dev`"
        )
    path = Path(spec.origin).parent / "discovery_cache" / "documents" / f"{api}.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


_FORMATS: dict[str, re.Pattern[str]] = {
    "int64": re.compile(r"^-?[0-9]+$"),
    "uint64": re.compile(r"^[0-9]+$"),
    "google-duration": re.compile(r"^-?[0-9]+(\.[0-9]{1,9})?s$"),
    "google-datetime": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"),
    "google-fieldmask": re.compile(r"^[a-zA-Z0-9_.,]*$"),
}


def check_body(api: str, schema: str, body: Any, *, response: bool = False) -> None:
    """Raise a 400 ``INVALID_ARGUMENT`` (as Google's JSON parser does) unless ``body`` is a
    ``schema`` of discovery document ``api`` (e.g. ``cloudbuild.v1``, ``BuildTrigger``).

    Unknown fields, wrong types, values outside an enum and malformed stated formats are
    refused; in a ``response`` (what the fake answers) too, as a self-check."""
    problems: list[str] = []
    _check(_document(api)["schemas"], {"$ref": schema}, body, schema, problems)
    if problems:
        side = "response" if response else "payload"
        raise _invalid(f"Invalid JSON {side} received. " + "; ".join(problems[:5]))


def _check(
    schemas: Mapping[str, Any], rule: Mapping[str, Any], value: Any, at: str, out: list[str]
) -> None:
    if "$ref" in rule:
        rule = schemas[rule["$ref"]]
    kind = rule.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            out.append(f"{at}: expected an object, got {type(value).__name__}")
            return
        properties = rule.get("properties")
        extra = rule.get("additionalProperties")
        if properties is None and extra is None:
            return  # a free-form object (google.protobuf.Struct and friends)
        for key, item in value.items():
            if properties is not None and key in properties:
                _check(schemas, properties[key], item, f"{at}.{key}", out)
            elif extra is not None:
                _check(schemas, extra, item, f"{at}[{key!r}]", out)
            else:
                out.append(f"Unknown name \"{key}\" at '{at}': Cannot find field.")
        return
    if kind == "array":
        if not isinstance(value, list):
            out.append(f"{at}: expected a list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(schemas, rule.get("items", {}), item, f"{at}[{index}]", out)
        return
    if kind == "string":
        fmt = rule.get("format")
        if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
            return  # Google accepts a JSON number for a 64-bit integer too
        if not isinstance(value, str):
            out.append(f"{at}: expected a string, got {type(value).__name__}")
            return
        enum = rule.get("enum")
        if enum is not None and value not in enum:
            out.append(f'{at}: invalid value "{value}" for enum (one of {", ".join(enum)})')
        pattern = _FORMATS.get(fmt or "")
        if pattern is not None and not pattern.match(value):
            out.append(f"{at}: {value!r} is not a valid {fmt}")
        return
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{at}: expected an integer, got {value!r}")
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(f"{at}: expected a number, got {value!r}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        out.append(f"{at}: expected a boolean, got {value!r}")


# -- the model ---------------------------------------------------------------------------


@dataclass
class Project:
    project_id: str
    number: str
    services: set[str] = field(default_factory=set)


@dataclass
class Build:
    body: dict[str, Any]
    plan: list[str]
    """The statuses it goes through, one per read; the last one sticks."""
    images: list[str]
    """Where it pushes (resolved ``images:``), once it succeeds."""
    step: int = 0


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


class FakeGoogle:
    """Some projects, what was created in them, and the builds that ran."""

    def __init__(self, *projects: str, enabled: tuple[str, ...] = ()) -> None:
        self.projects = {
            pid: Project(pid, str(100000000000 + index), set(enabled))
            for index, pid in enumerate(projects, 1)
        }
        self.repositories: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, dict[str, Any]]] = {}
        """repository name -> digest -> DockerImage."""
        self.triggers: dict[str, dict[str, Any]] = {}
        """``projects/P/locations/L/triggers/<id>`` -> BuildTrigger."""
        self.builds: dict[str, Build] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        """e-mail -> ServiceAccount."""
        self.bindings: set[tuple[str, str, str]] = set()
        """(resource, role, member) of every IAM member created."""
        self.connections: set[str] = set()
        """2nd-gen connections (``projects/P/locations/L/connections/C``), made by hand."""
        self.v2_repositories: dict[str, dict[str, Any]] = {}
        self.repository_files: dict[tuple[str, str], str] = {}
        """(remote URI, path) -> a file of that repository (a ``cloudbuild.yaml``)."""
        self.revisions_become_ready = True
        """False: a new Cloud Run revision never gets ready (a crashing container)."""
        self.build_plan: list[str] = ["QUEUED", "WORKING", "SUCCESS"]
        self.build_detail = ""
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        """(method, path, body) of every REST call (tokens aside)."""
        self.authorizations: list[str] = []
        self.endpoint = ""
        self.lock = threading.RLock()
        self._ids = itertools.count(1)

    def connect(self, project: str, location: str, connection: str = "github") -> str:
        """A 2nd-gen connection, as the platform team creates it once (GitHub app installed)."""
        name = f"projects/{project}/locations/{location}/connections/{connection}"
        self.connections.add(name)
        return name

    def create(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create a resource of Pulumi type ``typ`` from its inputs (camelCase), as the gcp
        provider would: its id and outputs. Raises :class:`GoogleError` as Google would."""
        handler = _HANDLERS.get(typ)
        if handler is None:
            raise _invalid(f"the fake Google has no model of {typ}")
        with self.lock:
            return handler(self, inputs)

    def remove(self, typ: str, resource_id: str) -> None:
        """Delete what a resource of Pulumi type ``typ`` created (a destroy, or an up that
        no longer declares it). Enabled APIs stay enabled (disableOnDestroy is false)."""
        with self.lock:
            if typ.endswith(("IamMember", "IAMMember")):
                self.bindings = {b for b in self.bindings if "/".join(b) != resource_id}
            elif typ == "gcp:serviceaccount/account:Account":
                self.accounts.pop(resource_id.rpartition("/")[2], None)
            elif typ == "gcp:artifactregistry/repository:Repository":
                self.repositories.pop(resource_id, None)
                self.images.pop(resource_id, None)
            elif typ == "gcp:cloudbuild/trigger:Trigger":
                self.triggers = {n: t for n, t in self.triggers.items() if t["id"] != resource_id}
            elif typ == "gcp:cloudrunv2/service:Service":
                self.services.pop(resource_id, None)
            elif typ == "gcp:cloudbuildv2/repository:Repository":
                self.v2_repositories.pop(resource_id, None)

    # -- projects and APIs ---------------------------------------------------------------

    def project(self, project_id: str) -> Project:
        found = self.projects.get(project_id)
        if found is None:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                f"Permission denied on resource project {project_id} (or it may not exist).",
                "CONSUMER_INVALID",
            )
        return found

    def require(self, project_id: str, api: str) -> Project:
        project = self.project(project_id)
        service = _API[api]
        if service not in project.services:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                f"{service} has not been used in project {project.number} before or it is "
                f"disabled. Enable it by visiting https://console.developers.google.com/apis/"
                f"api/{service}/overview?project={project.number} then retry.",
                "SERVICE_DISABLED",
            )
        return project

    def member_exists(self, member: str) -> None:
        kind, _, who = member.partition(":")
        if kind == "serviceAccount" and who.endswith(".iam.gserviceaccount.com"):
            if who not in self.accounts:
                raise _invalid(f"Service account {who} does not exist.")
        elif kind not in ("serviceAccount", "user", "group", "domain") and member not in (
            "allUsers",
            "allAuthenticatedUsers",
        ):
            raise _invalid(f"Invalid member: {member!r}")

    def has_role(self, resource: str, role: str, member: str) -> bool:
        return (resource, role, member) in self.bindings

    # -- builds --------------------------------------------------------------------------

    def push_tag(self, remote: str, tag: str) -> list[str]:
        """A tag pushed to ``remote`` (its URL): every trigger watching it whose tag filter
        matches starts a build. Returns the builds' ids."""
        started = []
        for name, trigger in sorted(self.triggers.items()):
            if _watches(trigger, remote, self.v2_repositories) and re.search(
                _push_filter(trigger), tag
            ):
                started.append(self._start(name, trigger, tag))
        return started

    def run_trigger(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        check_body("cloudbuild.v1", "RunBuildTriggerRequest", request)
        project, location, trigger_id = _parts(name, "triggers")
        self.require(project, "cloudbuild")
        trigger = self._trigger(project, location, trigger_id)
        tag = (request.get("source") or {}).get("tagName")
        if not tag:
            raise _invalid("source.tagName is required to run a tag trigger by hand")
        build_id = self._start(trigger["resourceName"], trigger, tag)
        build = self.build(project, location, build_id, advance=False)
        operation = {
            "name": f"projects/{project}/locations/{location}/operations/op-{build_id}",
            "metadata": {
                "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
                "build": build,
            },
        }
        check_body("cloudbuild.v1", "Operation", operation, response=True)
        return operation

    def _trigger(self, project: str, location: str, key: str) -> dict[str, Any]:
        prefix = f"projects/{project}/locations/{location}/triggers/"
        found = self.triggers.get(prefix + key) or next(
            (t for n, t in self.triggers.items() if n.startswith(prefix) and t["name"] == key),
            None,
        )
        if found is None:
            raise _not_found(f"trigger {prefix}{key}")
        return found

    def _start(self, trigger_name: str, trigger: dict[str, Any], tag: str) -> str:
        project, location, _ = _parts(trigger_name, "triggers")
        with self.lock:
            build_id = f"b{next(self._ids):04d}-{hashlib.sha256(tag.encode()).hexdigest()[:8]}"
        substitutions = {**trigger.get("substitutions", {}), "TAG_NAME": tag}
        config = trigger.get("build") or self._repository_build(trigger)
        account = trigger.get("serviceAccount")
        logging = (config.get("options") or {}).get("logging")
        if account and logging not in _USER_LOGGING and not config.get("logsBucket"):
            raise _invalid(
                "if 'build.service_account' is specified, the build must either (a) specify "
                "'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
                "build.options.default_logs_bucket_behavior option, or (c) use either "
                "CLOUD_LOGGING_ONLY / NONE logging options"
            )
        images = [_substitute(image, substitutions) for image in config.get("images", [])]
        body: dict[str, Any] = {
            "id": build_id,
            "projectId": project,
            "status": "QUEUED",
            "buildTriggerId": trigger["id"],
            "substitutions": substitutions,
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={location}/"
            f"{build_id}?project={self.project(project).number}",
            "images": images,
            "tags": list(config.get("tags", [])),
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if account:
            body["serviceAccount"] = account
        self.builds[build_id] = Build(body, list(self.build_plan), images)
        return build_id

    def _repository_build(self, trigger: dict[str, Any]) -> dict[str, Any]:
        """The repository's own build file (``filename``), as far as the fake knows it."""
        remote = _remote(trigger, self.v2_repositories)
        text = self.repository_files.get((remote, str(trigger.get("filename"))))
        if text is None:
            return {"images": ["${_SHIPYARD_IMAGE}:$TAG_NAME"]}
        from ruamel.yaml import YAML

        loaded: dict[str, Any] = YAML(typ="safe").load(text)
        return loaded

    def build(
        self, project: str, location: str, build_id: str, *, advance: bool = True
    ) -> dict[str, Any]:
        self.require(project, "cloudbuild")
        with self.lock:
            found = self.builds.get(build_id)
            if found is None or found.body["projectId"] != project:
                raise _not_found(f"build {build_id}")
            if advance and found.body["status"] not in _DONE:
                found.step += 1
            status = found.plan[min(found.step, len(found.plan) - 1)]
            if status != found.body["status"]:
                found.body["status"] = status
                if status == "SUCCESS":
                    self._push(found)
                elif status in _DONE:
                    found.body["statusDetail"] = self.build_detail
            body = dict(found.body)
        check_body("cloudbuild.v1", "Build", body, response=True)
        return body

    def _push(self, build: Build) -> None:
        pushed = []
        account = build.body.get("serviceAccount", "")
        email = account.rpartition("/")[2]
        for image in build.images:
            match = re.match(
                r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^:@]+):(.+)$", image
            )
            if match is None:
                raise _invalid(f"cannot push {image}: not an Artifact Registry Docker image")
            location, project, repo, name, tag = match.groups()
            repository = f"projects/{project}/locations/{location}/repositories/{repo}"
            if repository not in self.repositories:
                build.body["status"] = "FAILURE"
                build.body["statusDetail"] = f"name unknown: Repository {repository} not found"
                return
            if email and not self.has_role(
                repository, "roles/artifactregistry.writer", f"serviceAccount:{email}"
            ):
                build.body["status"] = "FAILURE"
                build.body["statusDetail"] = (
                    "denied: Permission 'artifactregistry.repositories.uploadArtifacts' denied "
                    f"on resource {repository}"
                )
                return
            images = self.images.setdefault(repository, {})
            immutable = (self.repositories[repository].get("dockerConfig") or {}).get(
                "immutableTags", False
            )
            holder = next(
                (i for i in images.values() if tag in i["tags"] and i["_image"] == name), None
            )
            digest = _digest(image, build.body["id"])
            if holder is not None and immutable:
                build.body["status"] = "FAILURE"
                build.body["statusDetail"] = (
                    f"tag {tag} of {name} is immutable in {repository}: it already names "
                    f"{holder['_digest']}"
                )
                return
            if holder is not None:
                holder["tags"].remove(tag)
            uri = f"{location}-docker.pkg.dev/{project}/{repo}/{name}@{digest}"
            images[digest] = {
                "name": f"{repository}/dockerImages/{name}@{digest}",
                "uri": uri,
                "tags": [tag],
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "_image": name,
                "_digest": digest,
            }
            pushed.append({"name": image, "digest": digest})
        build.body["results"] = {"images": pushed}
        build.body["finishTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def list_builds(self, project: str, location: str, filter_: str) -> dict[str, Any]:
        self.require(project, "cloudbuild")
        wanted = dict(re.findall(r'([\w.]+)\s*=\s*"([^"]*)"', filter_))
        found = []
        for build_id, build in sorted(self.builds.items(), reverse=True):
            body = (
                self.build(project, location, build_id, advance=False)
                if (build.body["projectId"] == project)
                else None
            )
            if body is None or f"region={location}/" not in body["logUrl"]:
                continue
            values = {
                "trigger_id": body.get("buildTriggerId"),
                "build_trigger_id": body.get("buildTriggerId"),
                "substitutions.TAG_NAME": body["substitutions"].get("TAG_NAME"),
                "status": body["status"],
            }
            if all(values.get(key) == value for key, value in wanted.items()):
                found.append(body)
        answer = {"builds": found}
        check_body("cloudbuild.v1", "ListBuildsResponse", answer, response=True)
        return answer

    def started_builds(self, tag: str | None = None) -> list[dict[str, Any]]:
        return [
            b.body
            for b in self.builds.values()
            if tag is None or b.body["substitutions"]["TAG_NAME"] == tag
        ]

    # -- Artifact Registry and Cloud Run reads --------------------------------------------

    def docker_image(self, name: str) -> dict[str, Any]:
        repository, _, image = name.partition("/dockerImages/")
        project = _parts(repository, "repositories")[0]
        self.require(project, "artifactregistry")
        image = unquote(image)
        _, _, digest = image.partition("@")
        found = self.images.get(repository, {}).get(digest)
        if repository not in self.repositories or found is None:
            raise _not_found(name)
        body = {k: v for k, v in found.items() if not k.startswith("_")}
        check_body("artifactregistry.v1", "DockerImage", body, response=True)
        return body

    def tag(self, name: str) -> dict[str, Any]:
        """``projects/P/locations/L/repositories/R/packages/<image>/tags/<tag>``."""
        repository, _, rest = name.partition("/packages/")
        package, _, tag = rest.partition("/tags/")
        project = _parts(repository, "repositories")[0]
        self.require(project, "artifactregistry")
        image, tag = unquote(package), unquote(tag)
        found = next(
            (
                i
                for i in self.images.get(repository, {}).values()
                if i["_image"] == image and tag in i["tags"]
            ),
            None,
        )
        if repository not in self.repositories or found is None:
            raise _not_found(name)
        body = {
            "name": name,
            "version": f"{repository}/packages/{package}/versions/{found['_digest']}",
        }
        check_body("artifactregistry.v1", "Tag", body, response=True)
        return body

    def delete_image(self, repository: str, digest: str) -> None:
        """As a cleanup policy (or a person) would."""
        del self.images[repository][digest]

    def service(self, name: str) -> dict[str, Any]:
        project = _parts(name, "services")[0]
        self.require(project, "run")
        found = self.services.get(name)
        if found is None:
            raise _not_found(name)
        body = {k: v for k, v in found.items() if not k.startswith("_")}
        check_body("run.v2", "GoogleCloudRunV2Service", body, response=True)
        return body

    def pin_traffic(self, name: str, revision: str) -> None:
        """Someone pins the service's traffic to ``revision`` (as in the console)."""
        service = self.services[name]
        service["traffic"] = [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": revision,
                "percent": 100,
            }
        ]
        _traffic_statuses(service)

    def running_digest(self, name: str) -> str | None:
        """The digest the revision serving 100% of ``name``'s traffic runs."""
        service = self.services.get(name)
        if service is None:
            return None
        serving = [t for t in service["trafficStatuses"] if t.get("percent") == 100]
        if not serving:
            return None
        revision = serving[0].get("revision") or service["latestReadyRevision"]
        image = service["_revisions"][revision.rpartition("/")[2]]
        return str(image.partition("@")[2]) or None


def _parts(name: str, collection: str) -> tuple[str, str, str]:
    match = re.match(rf"^projects/([^/]+)/locations/([^/]+)/{collection}/([^/]+)$", name)
    if match is None:
        raise _invalid(f"{name!r} is not a {collection} resource name")
    project, location, last = match.groups()
    return project, location, last


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2)
        return values.get(key, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


def _push_filter(trigger: dict[str, Any]) -> str:
    event = trigger.get("github") or trigger.get("repositoryEventConfig") or {}
    return str((event.get("push") or {}).get("tag") or "(?!)")


def _remote(trigger: dict[str, Any], v2: Mapping[str, dict[str, Any]]) -> str:
    if "github" in trigger:
        github = trigger["github"]
        return f"https://github.com/{github['owner']}/{github['name']}.git"
    repository = (trigger.get("repositoryEventConfig") or {}).get("repository", "")
    return str(v2.get(repository, {}).get("remoteUri", ""))


def _watches(trigger: dict[str, Any], remote: str, v2: Mapping[str, dict[str, Any]]) -> bool:
    def norm(url: str) -> str:
        return url.lower().removesuffix(".git").rstrip("/")

    return norm(_remote(trigger, v2)) == norm(remote)


def _traffic_statuses(service: dict[str, Any]) -> None:
    statuses = []
    for target in service.get("traffic") or [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}
    ]:
        status = dict(target)
        if status.get("type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST":
            status["revision"] = service["latestReadyRevision"].rpartition("/")[2]
        statuses.append(status)
    service["trafficStatuses"] = statuses


# -- Pulumi's mocks on the model ---------------------------------------------------------


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _drop(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in body.items() if k not in keys and v is not None})


class GoogleMocks(pulumi.runtime.Mocks):
    """Pulumi's mocks, creating what the program declares in ``google``'s model (as the
    gcp provider would, through the same REST shapes); a refusal fails the program."""

    def __init__(self, google: FakeGoogle) -> None:
        self.google = google
        self.created: list[tuple[str, str, str]] = []
        """(type, Pulumi name, id) of each resource, in the order created."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _camel({k: v for k, v in args.inputs.items() if not k.startswith("__")})
        if args.typ == "pulumi:pulumi:Stack":
            return f"{args.name}-stack", {}
        resource_id, outputs = self.google.create(args.typ, inputs)
        self.created.append((args.typ, args.name, resource_id))
        return resource_id, {**inputs, **outputs}


def _enable(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.project(inputs["project"])
    if inputs.get("disableOnDestroy") is not False:
        raise _invalid(
            f"{inputs['service']}: the fake refuses an API enabled with disableOnDestroy "
            "left true (a destroy would disable it for everything else in the project)"
        )
    project.services.add(inputs["service"])
    return f"{project.project_id}/{inputs['service']}", {}


def _account(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "iam").project_id
    account_id = inputs["accountId"]
    if not _ACCOUNT_ID.match(account_id):
        raise _invalid(f"accountId {account_id!r}: 6-30 characters, [a-z][-a-z0-9]*[a-z0-9]")
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    name = f"projects/{project}/serviceAccounts/{email}"
    google.accounts[email] = {"name": name, "email": email, "projectId": project}
    return name, {"email": email, "name": name, "member": f"serviceAccount:{email}"}


def _identity(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.project(inputs["project"])
    agents = {"run.googleapis.com": "serverless-robot-prod"}
    domain = agents.get(inputs["service"])
    if domain is None:
        raise _invalid(f"no service identity for {inputs['service']} in the fake")
    google.require(project.project_id, "run")
    email = f"service-{project.number}@{domain}.iam.gserviceaccount.com"
    google.accounts[email] = {"email": email, "projectId": project.project_id}
    return email, {"email": email, "member": f"serviceAccount:{email}"}


def _repository(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "artifactregistry").project_id
    repository_id = inputs["repositoryId"]
    if not _REPOSITORY_ID.match(repository_id):
        raise _invalid(f"repositoryId {repository_id!r} is not a valid repository id")
    body = _drop(inputs, "project", "location", "repositoryId")
    if "cleanupPolicies" in body:  # a list in Pulumi, a map by id in the API
        body["cleanupPolicies"] = {p["id"]: p for p in body["cleanupPolicies"]}
    check_body("artifactregistry.v1", "Repository", body)
    name = f"projects/{project}/locations/{inputs['location']}/repositories/{repository_id}"
    google.repositories[name] = {**body, "name": name}
    registry = f"{inputs['location']}-docker.pkg.dev/{project}/{repository_id}"
    return name, {"name": name, "registryUri": registry}


def _repository_member(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "artifactregistry").project_id
    name = f"projects/{project}/locations/{inputs['location']}/repositories/{inputs['repository']}"
    if name not in google.repositories:
        raise _not_found(name)
    google.member_exists(inputs["member"])
    google.bindings.add((name, inputs["role"], inputs["member"]))
    return f"{name}/{inputs['role']}/{inputs['member']}", {}


def _project_member(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.project(inputs["project"]).project_id
    google.member_exists(inputs["member"])
    resource = f"projects/{project}"
    google.bindings.add((resource, inputs["role"], inputs["member"]))
    return f"{resource}/{inputs['role']}/{inputs['member']}", {}


def _account_member(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account = inputs["serviceAccountId"]
    match = _SERVICE_ACCOUNT.match(account)
    if match is None or f"{match.group(2)}@{match.group(3)}.iam.gserviceaccount.com" not in (
        google.accounts
    ):
        raise _not_found(account)
    google.member_exists(inputs["member"])
    google.bindings.add((account, inputs["role"], inputs["member"]))
    return f"{account}/{inputs['role']}/{inputs['member']}", {}


def _v2_repository(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    google.require(inputs["project"], "cloudbuild")
    parent = inputs["parentConnection"]
    if parent not in google.connections:
        raise GoogleError(
            400,
            "FAILED_PRECONDITION",
            f"connection {parent} does not exist or is not installed: create it (and install "
            "the GitHub/GitLab app) first",
        )
    body = {"remoteUri": inputs["remoteUri"]}
    check_body("cloudbuild.v2", "Repository", body)
    name = f"{parent}/repositories/{inputs['name']}"
    google.v2_repositories[name] = {**body, "name": name}
    return name, {"name": name}


def _trigger(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "cloudbuild").project_id
    location = inputs.get("location", "global")
    body = _drop(inputs, "project", "location")
    name = body.get("name", "")
    if not _TRIGGER_NAME.match(name):
        raise _invalid(f"trigger name {name!r}: 1-64 characters, a letter first")
    check_body("cloudbuild.v1", "BuildTrigger", body)
    account = body.get("serviceAccount")
    if account is not None:
        match = _SERVICE_ACCOUNT.match(account)
        if match is None:
            raise _invalid(
                f"serviceAccount {account!r}: expected projects/{{PROJECT_ID}}/serviceAccounts/"
                "{ACCOUNT_ID_OR_EMAIL}"
            )
        if f"{match.group(2)}@{match.group(3)}.iam.gserviceaccount.com" not in google.accounts:
            raise _invalid(f"service account {account} does not exist")
    for key in body.get("substitutions", {}):
        if not _SUBSTITUTION.match(key):
            raise _invalid(f"substitution key {key!r} must match ^_[A-Z0-9_]+$")
    event = body.get("repositoryEventConfig")
    if event and event.get("repository") not in google.v2_repositories:
        raise _not_found(f"repository {event.get('repository')}")
    if event is None and "github" not in body:
        raise _invalid("a trigger needs github or repositoryEventConfig")
    with google.lock:
        previous = next(
            (
                t
                for n, t in google.triggers.items()
                if t["name"] == name
                and n.startswith(f"projects/{project}/locations/{location}/triggers/")
            ),
            None,
        )
        trigger_id = previous["id"] if previous else f"{_digest(project, location, name)[7:15]}-t"
    full = f"projects/{project}/locations/{location}/triggers/{trigger_id}"
    google.triggers[full] = {**body, "id": trigger_id, "resourceName": full}
    return trigger_id, {"triggerId": trigger_id}


def _run_service(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "run")
    location = inputs["location"]
    service_id = inputs["name"]
    if not _SERVICE_NAME.match(service_id):
        raise _invalid(f"service name {service_id!r}: 1-49 characters, a letter first")
    body = _drop(inputs, "project", "location", "name", "deletionProtection")
    if "traffics" in body:
        body["traffic"] = body.pop("traffics")
    template = body.get("template", {})
    for container in template.get("containers", []):
        if isinstance(container.get("ports"), dict):
            container["ports"] = [container["ports"]]
        if "envs" in container:
            container["env"] = container.pop("envs")
        if "commands" in container:
            container["command"] = container.pop("commands")
    check_body("run.v2", "GoogleCloudRunV2Service", body)
    account = template.get("serviceAccount")
    if account and account not in google.accounts:
        raise _invalid(f"Service account {account} does not exist.")
    agent = f"serviceAccount:service-{project.number}@serverless-robot-prod.iam.gserviceaccount.com"
    for container in template.get("containers", []):
        _check_pull(google, str(container["image"]), project.project_id, agent)
    name = f"projects/{project.project_id}/locations/{location}/services/{service_id}"
    with google.lock:
        old = google.services.get(name)
        generation = (old["_generation"] if old else 0) + 1
        revisions = dict(old["_revisions"]) if old else {}
        revision = f"{service_id}-{generation:05d}-{_digest(name, str(generation))[7:10]}"
        image = next(
            (str(c["image"]) for c in template.get("containers", []) if "@" in str(c["image"])),
            "",
        )
        revisions[revision] = image
        service = {
            **body,
            "name": name,
            "uri": f"https://{service_id}-{project.number[:6]}.{location}.run.app",
            "latestCreatedRevision": f"{name}/revisions/{revision}",
            "latestReadyRevision": f"{name}/revisions/{revision}"
            if google.revisions_become_ready or old is None
            else old["latestReadyRevision"],
            "generation": str(generation),
            "_generation": generation,
            "_revisions": revisions,
        }
        if "traffic" not in body and old is not None:
            service["traffic"] = old.get("traffic")  # an update keeps the traffic it had
            if service["traffic"] is None:
                del service["traffic"]
        _traffic_statuses(service)
        google.services[name] = service
    return name, {"uri": service["uri"], "name": service_id}


def _check_pull(google: FakeGoogle, image: str, project: str, agent: str) -> None:
    match = _IMAGE_BY_DIGEST.match(image)
    if match is None:
        return  # not from Artifact Registry by digest: a public image
    location, owner, repo, _image, digest = match.groups()
    repository = f"projects/{owner}/locations/{location}/repositories/{repo}"
    if digest not in google.images.get(repository, {}):
        raise GoogleError(400, "FAILED_PRECONDITION", f"Image '{image}' not found.")
    if owner != project and not google.has_role(repository, "roles/artifactregistry.reader", agent):
        raise GoogleError(
            403,
            "PERMISSION_DENIED",
            f"Cloud Run Service Agent {agent.partition(':')[2]} must have permission to read "
            f"the image, {image}. Ensure that the provided container image URL is correct and "
            "that the above account has permission to access the image.",
        )


def _service_member(google: FakeGoogle, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    project = google.require(inputs["project"], "run").project_id
    name = f"projects/{project}/locations/{inputs['location']}/services/{inputs['name']}"
    if name not in google.services:
        raise _not_found(name)
    google.member_exists(inputs["member"])
    google.bindings.add((name, inputs["role"], inputs["member"]))
    return f"{name}/{inputs['role']}/{inputs['member']}", {}


_Handler = Callable[[FakeGoogle, dict[str, Any]], tuple[str, dict[str, Any]]]
_HANDLERS: dict[str, _Handler] = {
    "gcp:projects/service:Service": _enable,
    "gcp:projects/serviceIdentity:ServiceIdentity": _identity,
    "gcp:serviceaccount/account:Account": _account,
    "gcp:artifactregistry/repository:Repository": _repository,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _repository_member,
    "gcp:projects/iAMMember:IAMMember": _project_member,
    "gcp:serviceaccount/iAMMember:IAMMember": _account_member,
    "gcp:cloudbuildv2/repository:Repository": _v2_repository,
    "gcp:cloudbuild/trigger:Trigger": _trigger,
    "gcp:cloudrunv2/service:Service": _run_service,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": _service_member,
}


# -- an engine whose `up` runs the program under the mocks -------------------------------


class FakeEngine:
    """Stands in for :class:`~shipyard.engine.Engine` where Pulumi's gcp plugin cannot run
    (no network to fetch it): ``up`` runs the program under :class:`GoogleMocks`, so its
    resources land in ``google``; outputs are kept per stack as Pulumi would keep them."""

    def __init__(self, google: FakeGoogle, pulumi_home: Path = Path("/nonexistent")) -> None:
        self.google = google
        self.pulumi_home = pulumi_home
        self.stacks: dict[StackRef, dict[str, StackOutput]] = {}
        self.resources: dict[StackRef, set[tuple[str, str]]] = {}
        """What each stack's last ``up`` declared: (type, id)."""
        self.ups: list[StackRef] = []

    def up(
        self,
        ref: StackRef,
        program: Program,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        **_: Any,
    ) -> OperationResult:
        try:
            asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            asyncio.set_event_loop(asyncio.new_event_loop())
        mocks = GoogleMocks(self.google)
        pulumi.runtime.set_mocks(mocks, project=ref.project, stack=ref.stack, preview=False)
        exported: dict[str, Any] = {}

        def with_outputs() -> Any:
            program()
            root = pulumi_settings.get_root_resource()
            declared = dict(getattr(root, "outputs", {}) or {})
            return pulumi.Output.all(**declared).apply(exported.update)

        run: Callable[[], None] = pulumi.runtime.test(with_outputs)  # type: ignore[no-untyped-call]
        run()
        outputs = {key: StackOutput(_camel(value)) for key, value in exported.items()}
        declared = {(typ, resource_id) for typ, _, resource_id in mocks.created}
        gone = self.resources.get(ref, set()) - declared
        for typ, resource_id in sorted(gone):  # no longer declared: deleted, as an up does
            self.google.remove(typ, resource_id)
        self.resources[ref] = declared
        self.stacks[ref] = outputs
        self.ups.append(ref)
        changes = {"create": len(mocks.created), "delete": len(gone)}
        return OperationResult(ref, OperationKind.UP, changes, outputs, 0.0)

    def outputs(self, ref: StackRef) -> dict[str, StackOutput]:
        if ref not in self.stacks:
            raise StackNotFoundError(ref, "the fake engine")
        return dict(self.stacks[ref])

    def destroy(self, ref: StackRef, **_: Any) -> OperationResult | None:
        if self.stacks.pop(ref, None) is None:
            raise StackNotFoundError(ref, "the fake engine")
        gone = self.resources.pop(ref, set())
        for typ, resource_id in sorted(gone):
            self.google.remove(typ, resource_id)
        return OperationResult(ref, OperationKind.DESTROY, {"delete": len(gone)}, {}, 0.0)


# -- the REST surface --------------------------------------------------------------------

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/triggers/[^/:]+):run$"), "run"),
    ("GET", re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/builds/([^/]+)$"), "build"),
    ("GET", re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/builds$"), "builds"),
    ("GET", re.compile(r"^/v1/projects/([^/]+)/(builds)$"), "global-builds"),
    (
        "GET",
        re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/repositories/[^/]+/dockerImages/.+)$"),
        "image",
    ),
    ("GET", re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/]+)$"), "service"),
    (
        "GET",
        re.compile(
            r"^/v1/(projects/[^/]+/locations/[^/]+/repositories/[^/]+/packages/[^/]+/tags/[^/]+)$"
        ),
        "tag",
    ),
]


def _answer(google: FakeGoogle, method: str, url: str, body: dict[str, Any]) -> Any:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    for verb, pattern, action in _ROUTES:
        match = pattern.match(split.path)
        if verb != method or match is None:
            continue
        with google.lock:
            if action == "run":
                return google.run_trigger(match.group(1), body)
            if action == "build":
                return google.build(*match.groups())
            if action == "builds":
                return google.list_builds(match.group(1), match.group(2), query.get("filter", ""))
            if action == "global-builds":  # the global route: global builds only
                return google.list_builds(match.group(1), "global", query.get("filter", ""))
            if action == "image":
                return google.docker_image(match.group(1))
            if action == "tag":
                return google.tag(match.group(1))
            return google.service(match.group(1))
    raise GoogleError(404, "NOT_FOUND", f"no route {method} {split.path}")


def _handler(google: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path == "/token":
                self._send(200, {"access_token": TOKEN, "expires_in": 3600})
                return
            google.authorizations.append(self.headers.get("Authorization", ""))
            try:
                body = json.loads(raw or b"{}")
                google.calls.append((method, self.path, body))
                self._send(200, _answer(google, method, self.path, body))
            except GoogleError as exc:
                self._send(exc.code, exc.body())
            except json.JSONDecodeError as exc:
                self._send(400, _invalid(f"Invalid JSON payload received. {exc}").body())

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def serve(google: FakeGoogle) -> Iterator[FakeGoogle]:
    """``google``'s REST APIs (and a token endpoint at ``/token``) on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(google))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    google.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield google
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_adc(path: Path, google: FakeGoogle) -> Path:
    """Application Default Credentials (for ``GOOGLE_APPLICATION_CREDENTIALS``): a service
    account key made up here, its ``token_uri`` on the served ``google``: the real ADC
    code path, and no call leaves 127.0.0.1."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "acme-platform",
        "private_key_id": "fake-key",
        "private_key": pem,
        "client_email": "shipyard@acme-platform.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{google.endpoint}/token",
    }
    path.write_text(json.dumps(info))
    return path
