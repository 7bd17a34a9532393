from __future__ import annotations

import os
import subprocess
import sys

from shipyard.engine import CancelToken, _procfs


def test_a_token_calls_its_handlers_once_and_late_subscribers_at_once() -> None:
    calls: list[str] = []
    token = CancelToken()
    unsubscribe = token.subscribe(lambda: calls.append("a"))
    gone = token.subscribe(lambda: calls.append("gone"))
    gone()

    token.cancel()
    token.cancel()
    token.subscribe(lambda: calls.append("late"))
    unsubscribe()

    assert token.cancelled
    assert calls == ["a", "late"]


def test_procfs_sees_a_child_and_its_death() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        [found] = [p for p in _procfs.descendants(os.getpid()) if p.pid == child.pid]
        assert _procfs.alive(found)
        assert _procfs.started_at(child.pid) is not None
        _procfs.kill_group(found)
        child.wait(timeout=30)
    assert not _procfs.alive(found)
    assert _procfs.started_at(child.pid) is None
