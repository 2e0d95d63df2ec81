"""Run work over a DAG with N threads, longest remaining path first; a failure skips only its
descendants.

``run_dag`` knows nothing of SQL: it calls ``work(node)`` for each node once all of the node's
parents (within the run) succeeded, at most ``threads`` at a time, and returns which nodes
failed and which were skipped. Worker exceptions never reach the scheduler's caller: they count
as failures (the work function is expected to record the details itself).

Ready nodes wait in a heap keyed by their *priority*, the estimated seconds of the longest path
from the node to the end of the run (its own duration plus its children's largest priority),
ties broken by the node's place in ``order``; a freed thread always takes the top of the heap,
so no thread idles while a node is ready. Each parent counts down its children's pending
parents as it succeeds: a build costs O(edges log N), never a scan of the order per
completion::

    >>> run = run_dag(["b", "a", "c"], {"c": ["a"]}, lambda node: True)
    >>> run.succeeded                      # a heads the longer path (a -> c), so it starts first
    ['a', 'b', 'c']
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

Duration = Mapping[str, float] | Callable[[str], float]


@dataclass
class DagRun:
    """What happened: ``skipped`` maps a node to the failed ancestor (or ``'fail-fast'``)."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def run_dag(order: list[str], parents: Mapping[str, Iterable[str]],
            work: Callable[[str], bool], *, threads: int = 1, fail_fast: bool = False,
            on_skip: Callable[[str, str], None] | None = None,
            on_interrupt: Callable[[], None] | None = None,
            duration: Duration | None = None) -> DagRun:
    """Run ``work`` over ``order`` (a topological order) respecting ``parents``.

    Args:
        order: the nodes to run, parents before children (also the tie-break between ready
            nodes of equal priority, and the order of the skips).
        parents: each node's parents; parents outside ``order`` count as done.
        work: runs one node and returns True on success.
        threads: how many nodes may run at once.
        fail_fast: after the first failure start nothing new (running nodes finish).
        on_skip: called with (node, reason) when a node is skipped.
        on_interrupt: called on Ctrl-C (KeyboardInterrupt in the calling thread) before waiting
            for the running nodes, so it can cancel their work; the interrupt is then re-raised.
        duration: each node's estimated seconds (a mapping, a node it lacks weighing 1, or a
            function); without it every node weighs 1.
    """
    position = {node: i for i, node in enumerate(order)}
    children: dict[str, list[str]] = {node: [] for node in order}
    pending: dict[str, int] = {}
    for node in order:
        inside = {p for p in parents.get(node, ()) if p in position}
        pending[node] = len(inside)
        for parent in inside:
            children[parent].append(node)
    priority = critical_paths(order, children, duration)
    ready = [(-priority[n], position[n], n) for n in order if not pending[n]]
    heapq.heapify(ready)
    run = DagRun()
    running: dict[Future[bool], str] = {}
    started: set[str] = set()
    stop = False

    def skip_descendants(root: str) -> None:
        found, stack = set(), [root]
        while stack:
            for child in children[stack.pop()]:
                if child not in found and child not in run.skipped and child not in started:
                    found.add(child)
                    stack.append(child)
        for node in sorted(found, key=position.__getitem__):
            run.skipped[node] = root
            if on_skip:
                on_skip(node, root)

    def settle(node: str, ok: bool) -> None:
        (run.succeeded if ok else run.failed).append(node)
        if not ok:
            skip_descendants(node)
            return
        for child in children[node]:
            pending[child] -= 1
            if not pending[child] and child not in run.skipped:
                heapq.heappush(ready, (-priority[child], position[child], child))

    width = max(1, threads)
    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="runner")
    try:
        while True:
            while not stop and ready and len(running) < width:
                node = heapq.heappop(ready)[2]
                started.add(node)
                running[pool.submit(_guard, work, node)] = node
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: position[running[f]]):
                node = running.pop(future)
                ok = future.result()
                settle(node, ok)
                if not ok and fail_fast:
                    stop = True
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for node in order:
        if node not in started and node not in run.skipped:
            run.skipped[node] = reason = "fail-fast" if stop else "unreachable"
            if on_skip:
                on_skip(node, reason)
    return run


def critical_paths(order: list[str], children: Mapping[str, list[str]],
                   duration: Duration | None = None) -> dict[str, float]:
    """Each node's priority: its estimated duration plus the largest priority of its children.

    ``order`` lists parents before children; a child listed before its parent counts as 0.

    >>> critical_paths(["a", "b", "c"], {"a": ["c"], "b": [], "c": []}, {"a": 2.0})
    {'c': 1.0, 'b': 1.0, 'a': 3.0}
    """
    weight: Callable[[str], float]
    if duration is None:
        weight = lambda node: 1.0  # noqa: E731
    elif callable(duration):
        weight = duration
    else:
        weight = lambda node: duration.get(node, 1.0)  # type: ignore[union-attr]  # noqa: E731
    priority: dict[str, float] = {}
    for node in reversed(order):
        priority[node] = float(weight(node)) + max(
            (priority.get(child, 0.0) for child in children.get(node, ())), default=0.0)
    return priority


def _guard(work: Callable[[str], bool], node: str) -> bool:
    try:
        return bool(work(node))
    except Exception:  # noqa: BLE001 - a worker never raises into the scheduler
        return False
