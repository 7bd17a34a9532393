"""The bell a worker rings when its job's process commits, and the coroutines (the API's
event streams) that wait on it."""

from __future__ import annotations

import asyncio
import threading

from shipyard.jobs.doorbell import CommitBell


def test_a_ring_from_another_thread_wakes_the_waiter_of_that_job_only() -> None:
    bell = CommitBell()

    async def scenario() -> tuple[bool, bool]:
        seen_7, seen_8 = bell.count(7), bell.count(8)
        ringer = threading.Timer(0.05, bell.ring, args=(7,))
        ringer.start()
        # 60 s timeouts: a True for job 7 can only come from the ring
        woken = await bell.wait(7, seen_7, 60.0)
        other = await bell.wait(8, seen_8, 0.05)
        ringer.join()
        return woken, other

    woken, other = asyncio.run(scenario())

    assert woken
    assert not other  # job 8 never committed: its waiter times out
    assert bell.count(7) == 1


def test_a_ring_between_reading_the_count_and_waiting_is_not_missed() -> None:
    bell = CommitBell()
    seen = bell.count(3)
    bell.ring(3)  # while the stream was reading the database

    assert asyncio.run(bell.wait(3, seen, 60.0))


def test_the_table_of_counts_stays_bounded() -> None:
    bell = CommitBell(keep=10)
    for job_id in range(100):
        bell.ring(job_id)

    assert bell.count(99) == 1
    assert bell.count(0) == 0  # dropped: a stream waiting on it falls back to its poll
