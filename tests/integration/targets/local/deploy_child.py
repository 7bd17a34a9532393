"""Run by the crash test in a child process: one deploy of a tag, to be SIGKILLed.

Usage: python deploy_child.py SETTINGS_JSON CATALOG_DIR TAG LABELS_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flow_world import component_state, settings_from_json

from shipyard.targets.local.flow import LocalTarget


def main() -> None:
    settings_json, catalog_dir, tag, labels = sys.argv[1:5]
    settings = settings_from_json(settings_json)
    with LocalTarget.from_settings(settings, labels=json.loads(labels)) as target:
        target.deploy(component_state(Path(catalog_dir)), tag)


if __name__ == "__main__":
    main()
