"""Worker processes for the cold paths: parsing model files and compiling models on every core.

Parsing and compiling are pure Python (sqlglot) and hold the GIL, so threads cannot spread them
over cores; forked processes can. A worker starts as a copy of the calling process (``fork``): it
already holds the project, so a task sends only a model's name and what it needs from its
parents, and returns the small result the caches keep (a parse entry, a compile entry). The
pool exists only where forking is available and there is enough work to pay for it; callers fall
back to doing the work in-process, and do so for any task that failed, so an error is raised
where it would have been without workers, by the same code.

    pool = worker_pool(len(misses))   # None: do it here
    if pool is not None:
        with pool:
            results = list(pool.map(work, misses, chunksize=8))
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

MIN_TASKS = 24  # fewer cold files than this are parsed or compiled in-process
ENV = "RUNNER_WORKERS"  # a whole number: at most that many worker processes (1: none)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers() -> int:
    """How many worker processes a pool gets: the cores, or fewer if ``RUNNER_WORKERS`` says."""
    count = cores()
    wanted = os.environ.get(ENV, "").strip()
    if wanted.isdigit():
        count = min(count, int(wanted))
    return count


def worker_pool(tasks: int) -> ProcessPoolExecutor | None:
    """A pool of forked workers for ``tasks`` pieces of work, or None when it would not pay
    (fewer than ``MIN_TASKS``, one core, ``RUNNER_WORKERS=1``) or ``fork`` is not available."""
    count = workers()
    if tasks < MIN_TASKS or count < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=min(count, tasks), initializer=_start,
                               mp_context=multiprocessing.get_context("fork"))


def _start() -> None:
    """In each worker: Ctrl-C is the parent's to handle (it stops the pool), and the objects
    inherited from the parent are frozen so the collector does not walk them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.enable()
    gc.freeze()
