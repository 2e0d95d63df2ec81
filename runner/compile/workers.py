"""Compiling over the DAG with worker processes: which models are ready, and the pool that
compiles them (``runner.project.processes``).

``compile_plan`` takes the ready model earliest in build order (``Ready``): done one at a time
in this process, that is compiling the build order in order. A cache miss may instead go to a
worker (``Workers``), a fork of this process that already holds the project, so a task sends
only the model's name and its parents' compiled forms; what comes back is the cache entry.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from runner.graph.dag import DAG
from runner.project.processes import worker_pool


class Ready:
    """The models of ``order`` whose parents (in ``order``) are done, earliest in it first."""

    def __init__(self, dag: DAG, order: list[str]) -> None:
        self._order = order
        self._position = {name: index for index, name in enumerate(order)}
        self._children: dict[str, list[str]] = {name: [] for name in order}
        self._pending: dict[str, int] = {}
        for name in order:
            parents = [p for p in dag.parents(name) if p in self._position]
            self._pending[name] = len(parents)
            for parent in parents:
                self._children[parent].append(name)
        self._heap = [self._position[n] for n in order if not self._pending[n]]
        heapq.heapify(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> str:
        return self._order[heapq.heappop(self._heap)]

    def again(self, name: str) -> None:
        """``name`` is ready again (a worker could not do it)."""
        heapq.heappush(self._heap, self._position[name])

    def done(self, name: str) -> None:
        for child in self._children[name]:
            self._pending[child] -= 1
            if not self._pending[child]:
                heapq.heappush(self._heap, self._position[child])


_TASK: Callable[..., Any] | None = None  # what a worker runs (set before the fork)


class Workers:
    """Worker processes running one task function (it returns None for a problem, which the
    caller then meets again in this process, where it belongs)."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool
        self.running: dict[Future[Any], tuple[str, float]] = {}

    @classmethod
    def start(cls, tasks: int, task: Callable[..., Any]) -> Workers | None:
        """A pool running ``task`` (inherited by the fork, never pickled) for about ``tasks``
        models; None when workers would not pay (``worker_pool``)."""
        global _TASK
        pool = worker_pool(tasks)
        if pool is None:
            return None
        _TASK = task
        return cls(pool)

    def submit(self, name: str, started: float, *args: Any) -> None:
        self.running[self._pool.submit(_run, name, *args)] = (name, started)

    def wait(self) -> list[tuple[str, float, Any]]:
        """The next finished models: (name, start, result or None when it had a problem)."""
        finished, _ = wait(self.running, return_when=FIRST_COMPLETED)
        results = []
        for future in finished:
            name, started = self.running.pop(future)
            try:
                result = future.result()
            except Exception:  # noqa: BLE001 - a worker died: done again by the caller
                result = None
            results.append((name, started, result))
        return results

    def stop(self) -> None:
        """Wait for the running tasks, drop the rest (on Ctrl-C too)."""
        global _TASK
        self._pool.shutdown(wait=True, cancel_futures=True)
        _TASK = None


def _run(*args: Any) -> Any:
    """In a worker: the task."""
    assert _TASK is not None
    return _TASK(*args)
