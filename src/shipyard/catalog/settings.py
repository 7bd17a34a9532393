"""Well-known settings: their names, built-in defaults and the schema Shipyard itself enforces."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BUILTIN_DEFAULTS", "SETTING_NAME", "WELL_KNOWN_SCHEMA", "WELL_KNOWN_SETTINGS"]

SETTING_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_PROPERTIES: dict[str, dict[str, Any]] = {
    "tag-pattern": {"type": "string", "minLength": 1, "format": "regex"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "source": {"type": "string", "minLength": 1},
    "score-file": {"type": "string", "minLength": 1},
    "gcp-project": {"type": "string", "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$"},
    "region": {"type": "string", "pattern": "^[a-z]+-[a-z]+[0-9]+$"},
    "cpu": {"type": ["string", "number"], "pattern": r"^[0-9]+(\.[0-9]+)?m?$"},
    "memory": {"type": "string", "pattern": "^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$"},
    "min-instances": {"type": "integer", "minimum": 0},
    "max-instances": {"type": "integer", "minimum": 1},
    "public": {"type": "boolean"},
    # the gcp target's settings (docs/gcp-target.md); their defaults live in the target
    "keep-versions": {"type": "integer", "minimum": 1},
    "cloudbuild-file": {"type": "string", "minLength": 1},
    "gcp-connection": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_-]*$"},
    "ingress": {"enum": ["all", "internal", "internal-and-cloud-load-balancing"]},
    "deletion-protection": {"type": "boolean"},
}

WELL_KNOWN_SETTINGS: tuple[str, ...] = tuple(_PROPERTIES)

WELL_KNOWN_SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": _PROPERTIES,
    "propertyNames": {"pattern": SETTING_NAME.pattern},
}

BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "port": 8080,
    "tag-pattern": r"^v\d+\.\d+\.\d+$",
    "cpu": "1",
    "memory": "512Mi",
    "min-instances": 0,
    "max-instances": 1,
    "public": False,
}
