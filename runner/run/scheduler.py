"""Run work over a DAG with N threads; a failure skips only its descendants.

``run_dag`` knows nothing of SQL: it calls ``work(node)`` for each node once all of the node's
parents (within the run) succeeded, at most ``threads`` at a time, and returns which nodes
failed and which were skipped. Worker exceptions never reach the scheduler's caller: they count
as failures (the work function is expected to record the details itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field


@dataclass
class DagRun:
    """What happened: ``skipped`` maps a node to the failed ancestor (or ``'fail-fast'``)."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def run_dag(order: list[str], parents: Mapping[str, Iterable[str]],
            work: Callable[[str], bool], *, threads: int = 1, fail_fast: bool = False,
            on_skip: Callable[[str, str], None] | None = None,
            on_interrupt: Callable[[], None] | None = None) -> DagRun:
    """Run ``work`` over ``order`` (a topological order) respecting ``parents``.

    Args:
        order: the nodes to run, parents before children.
        parents: each node's parents; parents outside ``order`` count as done.
        work: runs one node and returns True on success.
        threads: how many nodes may run at once.
        fail_fast: after the first failure start nothing new (running nodes finish).
        on_skip: called with (node, reason) when a node is skipped.
        on_interrupt: called on Ctrl-C (KeyboardInterrupt in the calling thread) before waiting
            for the running nodes, so it can cancel their work; the interrupt is then re-raised.
    """
    in_run = set(order)
    waiting = {n: {p for p in parents.get(n, ()) if p in in_run} for n in order}
    run = DagRun()
    running: dict[Future[bool], str] = {}
    stop = False

    def skip(node: str, reason: str) -> None:
        run.skipped[node] = reason
        waiting.pop(node, None)
        if on_skip:
            on_skip(node, reason)

    def settle(node: str, ok: bool) -> None:
        (run.succeeded if ok else run.failed).append(node)
        if ok:
            for other, pending in waiting.items():
                pending.discard(node)
            return
        failed_root = node
        for other in order:  # descendants, in order, via the remaining waiting sets
            if other in waiting and (waiting[other] & ({node} | set(run.skipped))):
                skip(other, failed_root)

    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="runner")
    try:
        while waiting or running:
            if not stop:
                _submit_ready(order, waiting, running, pool, work, max(1, threads))
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: order.index(running[f])):
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
    for node in [n for n in order if n in waiting]:
        skip(node, "fail-fast" if stop else "unreachable")
    return run


def _submit_ready(order: list[str], waiting: dict[str, set[str]],
                  running: dict[Future[bool], str], pool: ThreadPoolExecutor,
                  work: Callable[[str], bool], threads: int) -> None:
    """Start the ready nodes (no parent still waiting), in order, up to ``threads`` at once."""
    for node in order:
        if len(running) >= threads:
            break
        if node in waiting and not waiting[node] and node not in running.values():
            del waiting[node]
            running[pool.submit(_guard, work, node)] = node


def _guard(work: Callable[[str], bool], node: str) -> bool:
    try:
        return bool(work(node))
    except Exception:  # noqa: BLE001 - a worker never raises into the scheduler
        return False
