"""One router module per resource; :func:`shipyard.api.app.create_app` includes them."""

from __future__ import annotations

__all__: list[str] = []
