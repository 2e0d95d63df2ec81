"""The DAG scheduler: order, parallelism, failure isolation, fail-fast."""

from __future__ import annotations

import threading
import time

from runner.run.scheduler import run_dag

#   a -> b -> d
#   a -> c
#   x -> y          (independent branch)
ORDER = ["a", "x", "b", "c", "y", "d"]
PARENTS = {"b": ["a"], "c": ["a"], "d": ["b"], "y": ["x"]}


def test_runs_every_node_after_its_parents() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def work(node: str) -> bool:
        with lock:
            for parent in PARENTS.get(node, []):
                assert parent in seen, f"{node} ran before {parent}"
            seen.append(node)
        return True

    run = run_dag(ORDER, PARENTS, work, threads=3)
    assert sorted(run.succeeded) == sorted(ORDER)
    assert run.failed == [] and run.skipped == {}


def test_failure_skips_only_descendants_and_independent_branches_finish() -> None:
    skipped_calls: list[tuple[str, str]] = []

    def work(node: str) -> bool:
        if node == "b":
            raise RuntimeError("boom")  # a raising worker counts as a failure
        return True

    run = run_dag(ORDER, PARENTS, work, threads=2,
                  on_skip=lambda n, r: skipped_calls.append((n, r)))
    assert run.failed == ["b"]
    assert run.skipped == {"d": "b"}
    assert skipped_calls == [("d", "b")]
    assert sorted(run.succeeded) == ["a", "c", "x", "y"]


def test_threads_really_run_in_parallel() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    barrier = threading.Barrier(3, timeout=5)

    def work(node: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        if node in ("p1", "p2", "p3"):
            barrier.wait()  # only passes if three run at the same time
        with lock:
            active -= 1
        return True

    run = run_dag(["p1", "p2", "p3"], {}, work, threads=3)
    assert sorted(run.succeeded) == ["p1", "p2", "p3"]
    assert peak == 3


def test_fail_fast_starts_nothing_new() -> None:
    started: list[str] = []

    def work(node: str) -> bool:
        started.append(node)
        time.sleep(0.01)
        return node != "a"

    run = run_dag(ORDER, PARENTS, work, threads=1, fail_fast=True)
    assert started == ["a"]
    assert run.failed == ["a"]
    assert run.skipped == {"b": "a", "c": "a", "d": "a", "x": "fail-fast", "y": "fail-fast"}
