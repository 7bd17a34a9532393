"""Resolve a component for an environment: layered settings, the contract, a DesiredState.

Layers, later wins: Shipyard's defaults -> template ``settings`` -> environment ``settings``
-> ``shipyard.dev/<setting>`` -> ``shipyard.dev/<environment>.<setting>``. Annotation
strings are coerced to the type the schemas give. The result must satisfy Shipyard's
well-known settings schema, the template's ``schema`` and the environment's ``schema``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from shipyard.catalog._jsonschema import SchemaViolation, violations
from shipyard.catalog._problems import CatalogError, FieldPath, Problem, format_path
from shipyard.catalog.backstage import ANNOTATION_PREFIX, Component
from shipyard.catalog.platform import Environment, Platform, Template
from shipyard.catalog.score import Workload, default_workload, parse_workload
from shipyard.catalog.settings import BUILTIN_DEFAULTS, FORMAT_CHECKER, WELL_KNOWN_SCHEMA
from shipyard.catalog.sources import SourceError, inside_folder, parse_source
from shipyard.catalog.state import (
    DesiredState,
    GcpSettings,
    Layer,
    LocalSettings,
    Provenance,
    Scaling,
    SourceRef,
)

__all__ = ["check", "contract_problems", "resolve"]

TEMPLATE_ANNOTATION = ANNOTATION_PREFIX + "template"
SOURCE_LOCATION = "backstage.io/source-location"
PROJECT_SLUG = "github.com/project-slug"
_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


@dataclass(frozen=True)
class _Value:
    value: Any
    provenance: Provenance


@dataclass
class _Context:
    component: Component
    environment: Environment
    platform: Platform
    template: Template
    problems: list[Problem]

    def at_component(self, key: str | None, message: str, hint: str | None) -> None:
        path: FieldPath = ("metadata", "annotations", key) if key else ("metadata", "annotations")
        self.problems.append(self.component.document.problem(path, message, hint, at_key=True))

    def at_platform(self, path: FieldPath, message: str, hint: str | None) -> None:
        self.problems.append(self.platform.problem(path, message, hint))


def _provenance(layer: Layer, file: str | None, where: Any, path: FieldPath) -> Provenance:
    return Provenance(
        layer=layer,
        file=file,
        line=where.line if where else None,
        column=where.column if where else None,
        path=format_path(path),
    )


def _platform_layer(
    platform: Platform, layer: Layer, owner: Environment | Template, values: dict[str, _Value]
) -> None:
    for key, value in owner.settings.items():
        path = (*owner.path, "settings", key)
        where = platform.document.position(path)
        values[key] = _Value(value, _provenance(layer, platform.file, where, path))


def _schema_types(schemas: list[Mapping[str, Any]], setting: str) -> set[str]:
    types: set[str] = set()
    for schema in schemas:
        declared = (schema.get("properties") or {}).get(setting)
        if isinstance(declared, Mapping):
            found = declared.get("type")
            types.update([found] if isinstance(found, str) else found or [])
            if "const" in declared:
                types.add(_json_type(declared["const"]))
            for item in declared.get("enum") or []:
                types.add(_json_type(item))
    return types


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else "string"


def _coerce(text: str, types: set[str]) -> Any:
    """An annotation string as the schema's type; unchanged if it does not convert."""
    if not types or "string" in types:
        return text
    candidates: list[Any] = []
    if types & {"integer", "number"} and re.fullmatch(r"[+-]?\d+", text.strip()):
        candidates.append(int(text))
    if "number" in types and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text.strip()):
        candidates.append(float(text))
    if "boolean" in types and text.strip().lower() in ("true", "false"):
        candidates.append(text.strip().lower() == "true")
    if "null" in types and text.strip() in ("null", "~", ""):
        candidates.append(None)
    if types & {"array", "object"}:
        with contextlib.suppress(ValueError):
            candidates.append(json.loads(text))
    for candidate in candidates:
        if _json_type(candidate) in types or (
            _json_type(candidate) == "integer" and "number" in types
        ):
            return candidate
    return text


def _annotation_layers(ctx: _Context, values: dict[str, _Value]) -> None:
    component = ctx.component
    schemas = [WELL_KNOWN_SCHEMA, ctx.template.schema, ctx.environment.schema]
    env_names = {env.name for env in ctx.platform.environments}
    general: list[tuple[str, str, str]] = []
    specific: list[tuple[str, str, str]] = []
    for key, text in component.annotations.items():
        if not key.startswith(ANNOTATION_PREFIX) or key == TEMPLATE_ANNOTATION:
            continue
        name = key.removeprefix(ANNOTATION_PREFIX)
        scope, dot, setting = name.partition(".")
        if not dot:
            general.append((name, key, text))
        elif scope not in env_names:
            close = difflib.get_close_matches(scope, sorted(env_names), n=1)
            ctx.at_component(
                key,
                f"{scope!r} is not an environment of the platform",
                f"did you mean {close[0]!r}?"
                if close
                else f"environments: {', '.join(sorted(env_names))}",
            )
        elif scope == ctx.environment.name:
            specific.append((setting, key, text))
    for setting, key, text in general + specific:
        types = _schema_types(schemas, setting) or (
            {_json_type(values[setting].value)} if setting in values else set()
        )
        path = component.annotation_path(key)
        where = component.document.key_position(path)
        values[setting] = _Value(
            _coerce(text, types), _provenance("component", component.document.file, where, path)
        )


def _known_settings(platform: Platform) -> set[str]:
    known = set(WELL_KNOWN_SCHEMA["properties"])
    owners: list[Template | Environment] = [*platform.templates, *platform.environments]
    for owner in owners:
        known.update(owner.settings)
        known.update(owner.schema.get("properties") or {})
        known.update(owner.schema.get("required") or [])
    return known


def _unknown_settings(ctx: _Context) -> None:
    known = _known_settings(ctx.platform)
    for key in ctx.component.annotations:
        if not key.startswith(ANNOTATION_PREFIX) or key == TEMPLATE_ANNOTATION:
            continue
        setting = key.removeprefix(ANNOTATION_PREFIX).rpartition(".")[2]
        if setting not in known:
            close = difflib.get_close_matches(setting, sorted(known), n=1)
            ctx.at_component(
                key,
                f"unknown setting {setting!r}",
                (
                    f"did you mean {ANNOTATION_PREFIX}{close[0]}?"
                    if close
                    else "see docs/annotations.md for the settings Shipyard knows"
                ),
            )


def _rule_owner(ctx: _Context, violation: SchemaViolation) -> str:
    index = violation.schema_path[1] if len(violation.schema_path) > 1 else None
    if index == 1:
        return f"template {ctx.template.name}"
    if index == 2:
        return f"the rules of environment {ctx.environment.name}"
    return "Shipyard (a well-known setting)"


def _report(ctx: _Context, violation: SchemaViolation, values: Mapping[str, _Value]) -> None:
    env, owner = ctx.environment.name, _rule_owner(ctx, violation)
    setting = str(violation.path[0]) if violation.path else None
    if violation.keyword == "required" and setting is not None:
        ctx.at_component(
            f"{ANNOTATION_PREFIX}{setting}",
            f"setting {setting} is required in environment {env} by {owner}",
            f"add the annotation {ANNOTATION_PREFIX}{setting} (or "
            f"{ANNOTATION_PREFIX}{env}.{setting})",
        )
        return
    detail = f" ({violation.detail})" if violation.detail else ""
    statement = violation.statement or violation.message
    where = f"{setting} " if setting and len(violation.path) > 1 else ""
    message = f"{where}{statement} in environment {env} by {owner}{detail}"
    source = values.get(setting) if setting else None
    if source is None:
        ctx.at_platform(_schema_path(ctx, violation), message, "change the platform schema")
        return
    provenance = source.provenance
    hint = (
        f"change the annotation, or ask the platform team to allow it for {env}"
        if provenance.layer == "component"
        else "the platform's own settings break its schema: fix platform.yaml"
    )
    ctx.problems.append(
        Problem(
            provenance.file or "",
            provenance.line,
            provenance.column,
            provenance.path,
            message,
            hint,
        )
    )


def _schema_path(ctx: _Context, violation: SchemaViolation) -> FieldPath:
    index = violation.schema_path[1] if len(violation.schema_path) > 1 else None
    owner = ctx.template if index == 1 else ctx.environment
    return (*owner.path, "schema")


def _validate(ctx: _Context, values: Mapping[str, _Value]) -> None:
    schema = {"allOf": [WELL_KNOWN_SCHEMA, dict(ctx.template.schema), dict(ctx.environment.schema)]}
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    instance = {key: item.value for key, item in values.items()}
    reported: set[tuple[FieldPath, str]] = set()
    for violation in sorted(violations(validator, instance), key=_platform_rules_first):
        if (violation.path, violation.keyword) not in reported:
            reported.add((violation.path, violation.keyword))
            _report(ctx, violation, values)


def _platform_rules_first(violation: SchemaViolation) -> int:
    """The platform's own rule is the better message when Shipyard's agrees with it."""
    index = violation.schema_path[1] if len(violation.schema_path) > 1 else 0
    return -int(index) if isinstance(index, int) else 0


def _source(ctx: _Context, values: dict[str, _Value]) -> SourceRef | None:
    component = ctx.component
    spec: str | None = None
    if "source" in values:
        spec = str(values["source"].value)
    else:
        for key, convert in ((SOURCE_LOCATION, _from_source_location), (PROJECT_SLUG, _from_slug)):
            text = component.annotations.get(key)
            if text:
                spec = convert(text)
                path = component.annotation_path(key)
                values["source"] = _Value(
                    spec,
                    _provenance(
                        "component",
                        component.document.file,
                        component.document.key_position(path),
                        path,
                    ),
                )
                break
    if spec is None:
        return None
    try:
        parsed = parse_source(spec)
    except SourceError as exc:
        _problem_at(ctx, values["source"], str(exc), "fix the source annotation")
        return None
    if parsed.is_remote:
        return SourceRef(kind="git", spec=spec, url=spec)
    base = component.document.directory
    local = _resolved(base / spec) if base is not None else Path(spec)
    slug = component.annotations.get(PROJECT_SLUG)  # what a cloud build reaches instead
    remote = _from_slug(slug) if slug else None
    return SourceRef(kind="local", spec=spec, path=str(local), remote=remote)


def _resolved(path: Path) -> Path:
    """``path`` with symlinks resolved; as written (made absolute) if they loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _from_source_location(text: str) -> str:
    for prefix in ("url:", "dir:", "file:"):
        if text.startswith(prefix):
            return text.removeprefix(prefix)
    return text


def _from_slug(slug: str) -> str:
    return f"https://github.com/{slug.strip().strip('/')}.git"


def _workload(ctx: _Context, values: Mapping[str, _Value], given: Workload | None) -> Workload:
    component = ctx.component
    port = values["port"].value
    if given is not None:
        return given
    directory = component.document.directory
    score_file = values.get("score-file")
    if directory is not None:
        relative = str(score_file.value) if score_file else "score.yaml"
        candidate = inside_folder(directory, relative)
        if candidate is None:
            message = f"score file {relative!r} is outside the component's folder"
            hint = (
                "give a path relative to the descriptor's directory that stays inside it "
                "(no absolute path, no '..' or symlink leading out)"
            )
            if score_file is not None:
                _problem_at(ctx, score_file, message, hint)
            else:
                ctx.at_component(None, message, hint)
        elif _is_file(candidate):
            display = str(Path(component.document.file).parent / relative)
            workload, problems = parse_workload(candidate, display, sources_root=directory)
            ctx.problems.extend(problems)
            if workload is not None:
                return workload
        elif score_file is not None:
            _problem_at(
                ctx,
                score_file,
                f"score file {relative!r} does not exist",
                "the path is relative to the descriptor's directory",
            )
    return default_workload(component.name, port if isinstance(port, int) else 8080)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the OS refuses the name (too long, ...)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _problem_at(ctx: _Context, value: _Value, message: str, hint: str) -> None:
    p = value.provenance
    ctx.problems.append(Problem(p.file or "", p.line, p.column, p.path, message, hint))


def _label(value: str) -> str:
    return _LABEL_BAD.sub("-", value.lower())[:63]


def _gcp(ctx: _Context, settings: Mapping[str, Any]) -> GcpSettings | None:
    if ctx.environment.target != "gcp":
        return None
    missing = [key for key in ("gcp-project", "region") if key not in settings]
    for key in missing:
        ctx.at_component(
            f"{ANNOTATION_PREFIX}{key}",
            f"setting {key} is required in environment {ctx.environment.name} (target gcp)",
            f"add the annotation {ANNOTATION_PREFIX}{key}, or set it in the "
            "environment's settings in platform.yaml",
        )
    if missing:
        return None
    first = next((e.settings for e in ctx.platform.environments if e.target == "gcp"), {})
    return GcpSettings(
        project=str(settings["gcp-project"]),
        region=str(settings["region"]),
        build_project=str(
            settings.get("gcp-build-project") or first.get("gcp-project") or settings["gcp-project"]
        ),
        build_region=str(
            settings.get("gcp-build-region") or first.get("region") or settings["region"]
        ),
    )


def _state(
    ctx: _Context, values: dict[str, _Value], workload: Workload | None, source: SourceRef | None
) -> DesiredState | None:
    settings = {key: item.value for key, item in sorted(values.items())}
    gcp = _gcp(ctx, settings)
    if settings["min-instances"] > settings["max-instances"]:
        p = values["min-instances"].provenance
        ctx.problems.append(
            Problem(
                p.file or "",
                p.line,
                p.column,
                p.path,
                f"min-instances {settings['min-instances']} is above "
                f"max-instances {settings['max-instances']} in environment "
                f"{ctx.environment.name}",
                "lower min-instances or raise max-instances",
            )
        )
    if ctx.problems or workload is None:
        return None
    component, env = ctx.component, ctx.environment
    port = settings["port"]
    ports = workload.ports if not workload.default else default_workload(component.name, port).ports
    if not ports:
        ports = default_workload(component.name, port).ports
    return DesiredState(
        component=component.id,
        name=component.name,
        namespace=component.namespace,
        environment=env.name,
        target=env.target,
        auto_deploy=env.auto_deploy,
        template=ctx.template.name,
        source=source,
        tag_pattern=settings["tag-pattern"],
        containers=workload.containers,
        ports=ports,
        resources=workload.resources,
        scaling=Scaling(
            min_instances=settings["min-instances"],
            max_instances=settings["max-instances"],
            cpu=str(settings["cpu"]),
            memory=settings["memory"],
        ),
        public=settings["public"],
        gcp=gcp,
        local=LocalSettings(public=settings["public"]) if env.target == "local" else None,
        labels={
            "shipyard-component": _label(component.name),
            "shipyard-namespace": _label(component.namespace),
            "shipyard-environment": _label(env.name),
            "shipyard-template": _label(ctx.template.name),
        },
        settings=settings,
        provenance={key: item.provenance for key, item in sorted(values.items())},
    )


def _template(component: Component, platform: Platform, problems: list[Problem]) -> Template | None:
    name = component.annotations.get(TEMPLATE_ANNOTATION)
    template = platform.template(name)
    if template is not None:
        return template
    names = ", ".join(t.name for t in platform.templates)
    if name is not None:
        problems.append(
            component.problem(
                component.annotation_path(TEMPLATE_ANNOTATION),
                f"unknown template {name!r}",
                f"use one of: {names}",
            )
        )
    else:
        problems.append(
            component.problem(
                ("metadata", "annotations"),
                "no template chosen and the platform has no default",
                f"add the annotation {TEMPLATE_ANNOTATION} (one of: {names})",
            )
        )
    return None


def check(
    component: Component,
    environment: Environment | str,
    platform: Platform,
    *,
    workload: Workload | None = None,
) -> tuple[DesiredState | None, list[Problem]]:
    """Resolve without raising: the state, or None and every problem (located)."""
    problems: list[Problem] = []
    env = platform.environment(environment) if isinstance(environment, str) else environment
    if env is None:
        names = ", ".join(e.name for e in platform.environments)
        problems.append(
            Problem(
                platform.file,
                None,
                None,
                "environments",
                f"no environment {environment!r}",
                f"use one of: {names}",
            )
        )
        return None, problems
    template = _template(component, platform, problems)
    if template is None:
        return None, problems
    ctx = _Context(component, env, platform, template, problems)
    values = {
        key: _Value(value, Provenance(layer="default")) for key, value in BUILTIN_DEFAULTS.items()
    }
    _platform_layer(platform, "template", template, values)
    _platform_layer(platform, "environment", env, values)
    _annotation_layers(ctx, values)
    _unknown_settings(ctx)
    _validate(ctx, values)
    if ctx.problems:
        return None, ctx.problems
    source = _source(ctx, values)
    resolved = _workload(ctx, values, workload)
    return _state(ctx, values, resolved, source), ctx.problems


def resolve(
    component: Component,
    environment: Environment | str,
    platform: Platform,
    *,
    workload: Workload | None = None,
) -> DesiredState:
    """The desired state of ``component`` in ``environment``; raises :class:`CatalogError`."""
    state, problems = check(component, environment, platform, workload=workload)
    if state is None:
        raise CatalogError(problems)
    return state


def contract_problems(component: Component, platform: Platform) -> dict[str, list[Problem]]:
    """Problems per environment name, for every environment of the platform."""
    return {env.name: check(component, env, platform)[1] for env in platform.environments}
