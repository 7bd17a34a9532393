"""Where components run: ``local`` (a container engine on this machine) and ``gcp``.

Each target lives in its own subpackage; import from it directly, e.g.
``from shipyard.targets.local import detect_container_engine``.
"""

from __future__ import annotations

__all__: list[str] = []
