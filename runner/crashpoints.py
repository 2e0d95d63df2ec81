"""Crash points, for the kill harness (``tests/test_crash_consistency.py``).

With ``RUNNER_CRASH_AT=N`` in its environment the process kills itself with SIGKILL (no
cleanup, no ``finally``: a power cut) when it reaches its Nth crash point. Every statement that
changes a target and every file written under ``target/`` is one, so the harness can stop a
build between any two of its effects and check that nothing is lost. Unset, a crash point
costs one comparison.
"""

from __future__ import annotations

import itertools
import os
import signal

_AT = int(os.environ.get("RUNNER_CRASH_AT") or 0)
_COUNT = itertools.count(1)


def crash_point(label: str) -> None:
    """Count one effect; die here if it is the one ``RUNNER_CRASH_AT`` names.

    ``RUNNER_CRASH_LOG``, if set, is a file the label of each point is appended to (the
    harness reads it to report where it stopped the run).
    """
    if not _AT:
        return
    index = next(_COUNT)
    log = os.environ.get("RUNNER_CRASH_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{index} {label}\n")
    if index == _AT:
        os.kill(os.getpid(), signal.SIGKILL)
