"""Run by the crash test in a child process: an ``up`` whose create waits on a gate file.

Usage: python crash_child.py DATA_DIR PROJECT STACK WORK_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from shipyard.engine import Engine, StackRef
from shipyard.engine.testing import GatedFileResource
from shipyard.settings import Settings


def main() -> None:
    data_dir, project, stack, work = sys.argv[1:5]
    engine = Engine.from_settings(Settings(data_dir=Path(data_dir), backend_url=None))
    work_dir = Path(work)

    def program() -> None:
        GatedFileResource(
            "gated",
            str(work_dir / "out.txt"),
            "crash",
            str(work_dir / "gate"),
            str(work_dir / "started"),
        )

    engine.up(StackRef(project, stack), program)


if __name__ == "__main__":
    main()
