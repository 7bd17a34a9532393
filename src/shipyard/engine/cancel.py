"""A thread-safe cancel request for a running engine operation."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelToken"]


class CancelToken:
    """Pass one to an operation; :meth:`cancel` from any thread stops it gracefully.

    The engine sends SIGINT to the Pulumi CLI, waits a grace period, then escalates
    (a second SIGINT, then SIGKILL of the CLI's process group and of the provider
    processes it started). The operation then raises ``OperationCancelledError``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._handlers: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            handlers = list(self._handlers)
        for handler in handlers:
            handler()

    def subscribe(self, handler: Callable[[], None]) -> Callable[[], None]:
        """Call ``handler`` on cancel (now, if already cancelled); returns an unsubscribe."""
        with self._lock:
            already = self._cancelled
            if not already:
                self._handlers.append(handler)
        if already:
            handler()

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe
