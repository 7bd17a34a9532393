"""Use cases: what the API, the CLI's server side and the workers do, over the store.

Functions that change data take a session and flush; the caller owns the transaction.
"""

from __future__ import annotations

__all__: list[str] = []
