"""The health wait polls quickly at first, then every interval, until its deadline."""

from __future__ import annotations

import socket

import pytest

from shipyard.targets.local.errors import HealthCheckTimeoutError
from shipyard.targets.local.health import wait_until_healthy


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_waits_double_from_the_first_interval_up_to_the_interval() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with pytest.raises(HealthCheckTimeoutError, match=r"did not answer 200 within 0\.5 s"):
        wait_until_healthy(
            f"http://127.0.0.1:{_closed_port()}/",
            timeout_s=0.5,
            interval_s=0.1,
            first_interval_s=0.01,
            clock=lambda: now[0],
            sleep=sleep,
        )

    assert waits[:5] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1])
    assert set(waits[4:]) == {0.1}
    assert sum(waits) == pytest.approx(0.5, abs=0.1)
