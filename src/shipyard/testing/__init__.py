"""Test support that ships with Shipyard: fakes at its ports and throwaway databases.

Used by Shipyard's tests and benchmarks; nothing here runs in production.
"""

from __future__ import annotations

__all__: list[str] = []
