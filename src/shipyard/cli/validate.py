"""``shipyard validate``: check descriptors, Score files and platform files; report every problem.

Directories are searched recursively for ``catalog-info.yaml``/``catalog-info.yml`` (hidden
directories and ``node_modules`` skipped); a file named on the command line is read whatever
its name, as a Score workload (``apiVersion: score.dev/...``), a platform file
(``kind: Platform``) or a Backstage descriptor. Location targets are followed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from shipyard.catalog import (
    Component,
    DescriptorFile,
    DesiredState,
    Platform,
    Problem,
    read_catalog,
)
from shipyard.catalog.backstage import ANNOTATION_PREFIX
from shipyard.catalog.platform import parse_platform
from shipyard.catalog.resolve import check
from shipyard.catalog.score import parse_workload
from shipyard.catalog.settings import builtin_format_problem
from shipyard.catalog.sources import inside_folder
from shipyard.cli._app import OutputFormat, app
from shipyard.cli._utilities import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    print_json,
    with_errors_handled,
)
from shipyard.errors import ShipyardError

__all__ = ["Report", "validate_paths"]

DESCRIPTOR_NAMES = ("catalog-info.yaml", "catalog-info.yml")
_SKIPPED_DIRS = {"node_modules", "__pycache__"}
_API_VERSION = re.compile(r"^apiVersion:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
_KIND = re.compile(r"^kind:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


@dataclass
class Report:
    """Entities found, problems (which make the input invalid) and warnings (which do not)."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if problem not in self.problems:
                self.problems.append(problem)

    def warn(self, warnings: Iterable[Problem]) -> None:
        for warning in warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "entities": self.entities,
            "problems": [problem.as_dict() for problem in self.problems],
            "warnings": [warning.as_dict() for warning in self.warnings],
        }


def _descriptors(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("catalog-info.y*ml")):
        relative = path.relative_to(directory).parts[:-1]
        if (
            path.name in DESCRIPTOR_NAMES
            and path.is_file()
            and not any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative)
        ):
            yield path


def _kind_of(path: Path) -> str:
    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return "descriptor"  # the reader reports why it cannot be read
    api_version, kind = _API_VERSION.search(head), _KIND.search(head)
    if api_version and api_version.group(1).startswith("score.dev/"):
        return "score"
    if kind and kind.group(1) == "Platform":
        return "platform"
    return "descriptor"


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that says no, rather than raising, for a name too long to stat."""
    try:
        return path.is_file()
    except OSError:
        return False


def _workload_problems(component: Component) -> list[Problem]:
    directory = component.document.directory
    if directory is None:
        return []
    named = component.annotations.get("shipyard.dev/score-file")
    candidate = inside_folder(directory, named or "score.yaml")
    if candidate is None or not _is_file(candidate):
        if named is None and candidate is not None:
            return []
        return [
            component.document.problem(
                ("metadata", "annotations", "shipyard.dev/score-file"),
                f"score file {named or 'score.yaml'!r} "
                + ("does not exist" if candidate else "is outside the component's folder"),
                "the path is relative to the descriptor's directory and stays inside it",
                at_key=True,
            )
        ]
    display = str(Path(component.document.file).parent / (named or "score.yaml"))
    return parse_workload(candidate, display)[1]


def _setting_format_problems(component: Component) -> list[Problem]:
    """Without a platform file: each ``shipyard.dev/[<env>.]<setting>`` annotation of a
    well-known setting, held to that setting's own format (settings.py)."""
    problems: list[Problem] = []
    for key, text in component.annotations.items():
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        setting = key.removeprefix(ANNOTATION_PREFIX).rpartition(".")[2]
        why = builtin_format_problem(setting, text)
        if why is not None:
            problems.append(
                component.document.problem(
                    component.annotation_path(key),
                    f"{why}: {key} breaks the format of Shipyard's setting {setting}",
                    "fix the value (docs/annotations.md lists each setting's format)",
                )
            )
    return problems


def _component_entry(
    component: Component, platform: Platform | None, report: Report
) -> dict[str, Any]:
    entry = component.summary()
    if platform is None:
        report.add(_setting_format_problems(component))
        report.add(_workload_problems(component))
        return entry
    environments: dict[str, Any] = {}
    for env in platform.environments:
        state, problems = check(component, env, platform)
        report.add(problems)
        if state is not None and state.target == "gcp":
            report.warn(_gcp_manual_steps(component, state))
        environments[env.name] = {
            "valid": state is not None,
            "hash": state.stable_hash() if state is not None else None,
        }
    entry["environments"] = environments
    return entry


def _gcp_manual_steps(component: Component, state: DesiredState) -> list[Problem]:
    """What someone must do by hand in Google Cloud first (a 1st-gen GitHub connection)."""
    from shipyard.targets.gcp.errors import GcpTargetError
    from shipyard.targets.gcp.plan import manual_steps

    try:
        steps = manual_steps(state)
    except GcpTargetError:
        return []  # refused at deploy with its own message
    hint = f"or unset {ANNOTATION_PREFIX}gcp-connection to use the 2nd-gen connection"
    return [
        component.document.problem(
            ("metadata", "annotations"), f"{state.environment}: {step}", hint, at_key=True
        )
        for step in steps
    ]


class NothingToValidateError(ShipyardError):
    """A directory named on the command line holds no descriptor: a usage error."""

    exit_code = EXIT_USAGE


def validate_paths(paths: Iterable[Path], platform_file: Path | None = None) -> Report:
    """Validate files and directories (and resolve components when a platform is given)."""
    report = Report()
    platform: Platform | None = None
    if platform_file is not None:
        platform, problems = parse_platform(platform_file, str(platform_file))
        report.add(problems)
    descriptors: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = list(_descriptors(path))
            if not found:
                raise NothingToValidateError(
                    f"{path}: no catalog-info.yaml (or .yml) below this directory; name the "
                    "descriptor files themselves to validate files with other names"
                )
            descriptors.extend(found)
            continue
        kind = _kind_of(path)
        if kind == "score":
            report.add(parse_workload(path, str(path))[1])
        elif kind == "platform":
            report.add(parse_platform(path, str(path))[1])
        else:
            descriptors.append(path)
    files: list[DescriptorFile] = read_catalog(descriptors)
    for file in files:
        report.add(file.problems)
        report.warn(file.warnings)
        for entity in file.entities:
            if isinstance(entity, Component):
                report.entities.append(_component_entry(entity, platform, report))
            else:
                report.entities.append(entity.summary())
    return report


def _print_text(report: Report) -> None:
    for warning in report.warnings:
        path = f" [cyan]{escape(warning.path)}[/]:" if warning.path else ":"
        console.print(
            f"[bold]{escape(warning.location())}[/]{path} [yellow]warning: "
            f"{escape(warning.message)}[/]",
            highlight=False,
            soft_wrap=True,
        )
        if warning.hint:
            console.print(
                f"    [dim]hint: {escape(warning.hint)}[/]", highlight=False, soft_wrap=True
            )
    for problem in report.problems:
        where = f"[bold]{escape(problem.location())}[/]"
        path = f" [cyan]{escape(problem.path)}[/]:" if problem.path else ":"
        # Messages quote user input and regexes ("[A-Za-z0-9]"): never read them as markup.
        console.print(
            f"{where}{path} [red]{escape(problem.message)}[/]",
            highlight=False,
            soft_wrap=True,
        )
        if problem.hint:
            console.print(
                f"    [dim]hint: {escape(problem.hint)}[/]", highlight=False, soft_wrap=True
            )
    count = len(report.entities)
    warned = len(report.warnings)
    if report.valid:
        console.print(
            f"[green]valid[/]: {count} entit{'y' if count == 1 else 'ies'}"
            + (f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""),
            highlight=False,
        )
    else:
        n = len(report.problems)
        console.print(
            f"[red]invalid[/]: {n} problem{'s' if n != 1 else ''}, {count} valid "
            f"entit{'y' if count == 1 else 'ies'}",
            highlight=False,
        )


@app.command()
@with_errors_handled
def validate(
    paths: list[Path] = typer.Argument(  # noqa: B008
        ..., exists=True, readable=True, help="descriptor files or directories to search"
    ),
    platform: Path | None = typer.Option(  # noqa: B008
        None,
        "--platform",
        "-p",
        exists=True,
        dir_okay=False,
        readable=True,
        help="platform.yaml: also resolve every component for every environment",
    ),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", "-o", help="text or json"),  # noqa: B008
) -> None:
    """Validate Backstage descriptors, Score workloads and platform contracts."""
    report = validate_paths(paths, platform)
    if output is OutputFormat.json:
        print_json(report.as_dict())
    else:
        _print_text(report)
    if not report.valid:
        raise typer.Exit(EXIT_FAILURE)
