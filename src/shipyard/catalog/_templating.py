"""Spot template syntax (Jinja/Nunjucks/cookiecutter, the Backstage scaffolder's ``${{ }}``)."""

from __future__ import annotations

import re

from shipyard.catalog._problems import Position

__all__ = ["find_template_marker"]

_MARKER = re.compile(r"\$\{\{.*?\}\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def find_template_marker(text: str) -> tuple[Position, str] | None:
    """The first ``{{ }}``, ``${{ }}``, ``{% %}`` or ``{# #}`` outside a comment line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        match = _MARKER.search(line)
        if match:
            return Position(number, match.start() + 1), match.group(0)
    return None
