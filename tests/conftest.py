"""Fixtures shared by every test directory."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

WaitFor = Callable[..., None]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)  # a poll interval, bounded by the deadline above
        delay = min(delay * 2, 0.2)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> WaitFor:
    return wait_for


# Hypothesis profiles (catalog): `quick` on every run; `make fuzz` selects `fuzz` with
# --hypothesis-profile, which pytest applies after this file is loaded.
def _hypothesis_profiles() -> None:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "quick", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile(
        "fuzz", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck)
    )
    settings.load_profile("quick")


_hypothesis_profiles()
