"""Imports point downward only (docs/decisions.md, "Layers").

Read from the source with ``ast``, so a forbidden import anywhere in a module, even one
inside a function, fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "shipyard"

# package -> the Shipyard packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "catalog": {"engine", "targets", "jobs", "store", "services", "api", "cli"},
    "sources": {"engine", "targets", "jobs", "store", "services", "api", "cli"},
    "engine": {"catalog", "targets", "jobs", "store", "services", "api", "cli"},
    "store": {"catalog", "engine", "targets", "jobs", "services", "api", "cli"},
    "targets": {"jobs", "store", "services", "api", "cli"},
    "jobs": {"services", "api", "cli"},
    "services": {"api", "cli"},
    "api": {"cli"},
}

# The CLI is an API client: only the commands that run Shipyard itself open the database.
CLI_MAY_OPEN_THE_DATABASE = {"db.py", "serve.py", "worker.py"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _shipyard_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "shipyard" else None


def _violations(package: str, forbidden: set[str]) -> list[str]:
    root = SRC / package
    problems = []
    for path in sorted(root.rglob("*.py")):
        for line, module in _imports(path):
            if _shipyard_package(module) in forbidden:
                problems.append(f"{path.relative_to(SRC.parent)}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_downward(package: str) -> None:
    if not (SRC / package).is_dir():
        pytest.skip(f"shipyard.{package} does not exist yet")
    assert _violations(package, FORBIDDEN[package]) == []


def test_cli_commands_do_not_open_the_database() -> None:
    problems = [
        f"cli/{path.name}:{line} imports {module}"
        for path in sorted((SRC / "cli").glob("*.py"))
        if path.name not in CLI_MAY_OPEN_THE_DATABASE
        for line, module in _imports(path)
        if _shipyard_package(module) == "store" or module.startswith("sqlalchemy")
    ]
    assert problems == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from shipyard.store import models\n")
    assert _imports(module) == [(2, "shipyard.store")]
