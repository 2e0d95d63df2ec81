"""The DAG scheduler: order, parallelism, failure isolation, fail-fast."""

from __future__ import annotations

import queue
import threading
import time

from runner.run.scheduler import DagRun, critical_paths, run_dag

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


# -- the ready queue: longest remaining path first ---------------------------------------------

def _starts(order: list[str], parents: dict[str, list[str]], **kwargs: object) -> list[str]:
    """The nodes in the order ``run_dag`` starts them (one thread unless told)."""
    seen: list[str] = []
    run_dag(order, parents, lambda node: seen.append(node) or True, **kwargs)  # type: ignore[arg-type]
    return seen


def test_one_thread_starts_by_critical_path_then_order() -> None:
    #   s1 s2 (alone, weight 1)    c1 -> c2 -> c3 (a chain)    h (alone, weight 5)
    order = ["s1", "s2", "c1", "c2", "c3", "h"]
    parents = {"c2": ["c1"], "c3": ["c2"]}
    assert _starts(order, parents) == ["c1", "c2", "s1", "s2", "c3", "h"]
    # priorities with durations: h 5, c1 1+2+3=6, c2 5, c3 3, s1 s2 1 (ties by order: c2 before h)
    assert _starts(order, parents, duration={"c2": 2.0, "c3": 3.0, "h": 5.0}) == [
        "c1", "c2", "h", "c3", "s1", "s2"]
    # a function works as well as a mapping; without durations file order breaks ties
    assert _starts(order, parents, duration=lambda n: 10.0 if n == "s2" else 1.0)[0] == "s2"
    assert _starts(["x", "y", "z"], {}) == ["x", "y", "z"]


def test_critical_paths_sum_along_the_longest_child() -> None:
    children = {"a": ["b", "c"], "b": ["d"], "c": [], "d": []}
    assert critical_paths(["a", "b", "c", "d"], children, {"a": 1, "b": 2, "c": 10, "d": 3}) == {
        "d": 3.0, "c": 10.0, "b": 5.0, "a": 11.0}
    assert critical_paths(["a", "b", "c", "d"], children)["a"] == 3.0


class Controlled:
    """``run_dag`` on a background thread whose nodes each run until the test releases them."""

    def __init__(self, order: list[str], parents: dict[str, list[str]], threads: int) -> None:
        self.parents, self.threads = parents, threads
        self.started: queue.Queue[str] = queue.Queue()
        self.release = {node: threading.Event() for node in order}
        self.done = {node: threading.Event() for node in order}
        self.finished: set[str] = set()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.running = 0
        self.thread = threading.Thread(target=self._run, args=(order,), daemon=True)
        self.result: DagRun | None = None

    def _run(self, order: list[str]) -> None:
        self.result = run_dag(order, self.parents, self.work, threads=self.threads)

    def work(self, node: str) -> bool:
        with self.lock:
            self.running += 1
            if self.running > self.threads:
                self.errors.append(f"{self.running} running with {self.threads} threads")
            missing = [p for p in self.parents.get(node, []) if p not in self.finished]
            if missing:
                self.errors.append(f"{node} started before {missing}")
        self.started.put(node)
        assert self.release[node].wait(5), f"{node} was never released"
        with self.lock:
            self.running -= 1
            self.finished.add(node)
        self.done[node].set()
        return True


def _drive(order: list[str], parents: dict[str, list[str]], threads: int) -> list[str]:
    """Release the running nodes oldest first (those started together by name); after each
    release, wait (by events, with a timeout) until every free thread took a ready node: a
    thread left idle fails the test. Returns the nodes in the order they started."""
    dag = Controlled(order, parents, threads)
    dag.thread.start()
    starts: list[str] = []
    running: list[str] = []
    while len(starts) < len(order):
        ready = [n for n in order if n not in starts
                 and all(p in dag.finished or p not in order for p in parents.get(n, []))]
        batch = []
        for _ in range(min(threads - len(running), len(ready))):
            try:
                batch.append(dag.started.get(timeout=5))
            except queue.Empty:
                raise AssertionError(f"a thread idles while {ready} are ready "
                                     f"(running: {running})") from None
        batch.sort()  # nodes that start together report in any order
        starts += batch
        running += batch
        oldest = running.pop(0)
        dag.release[oldest].set()
        assert dag.done[oldest].wait(5), f"{oldest} did not finish once released"
    for node in running:
        dag.release[node].set()
    dag.thread.join(5)
    assert not dag.thread.is_alive() and dag.result is not None
    assert dag.errors == []
    assert sorted(dag.result.succeeded) == sorted(order)
    assert dag.started.empty()
    return starts


def test_the_chain_head_starts_before_short_independent_nodes() -> None:
    # file order puts eight short nodes first; the chain c1 -> ... -> c4 is the critical path
    shorts = [f"s{i}" for i in range(8)]
    chain = [f"c{i}" for i in range(1, 5)]
    order = shorts + chain
    parents = {f"c{i}": [f"c{i - 1}"] for i in range(2, 5)}
    starts = _drive(order, parents, threads=2)
    # the first two start together; then one start per release
    assert starts[:2] == ["c1", "s0"]  # file order would have started s0 and s1
    # the chain's head keeps its lead while its remaining path is longer; c4 ties with the
    # shorts (all weigh 1) and file order puts it last
    assert starts[2:] == ["c2", "s1", "c3", "s2", "s3", "s4", "s5", "s6", "s7", "c4"]


def test_no_thread_idles_while_a_node_is_ready() -> None:
    #   a -> b -> e      a -> c      d (alone)      f <- b, c
    order = ["d", "a", "b", "c", "e", "f"]
    parents = {"b": ["a"], "c": ["a"], "e": ["b"], "f": ["b", "c"]}
    assert _drive(order, parents, threads=1) == ["a", "b", "c", "d", "e", "f"]
    for threads in (2, 3):
        assert sorted(_drive(order, parents, threads)) == sorted(order)


def test_skips_follow_the_order_with_each_failed_root() -> None:
    #   a -> b -> d,   a -> c -> d,   c -> e,   x -> y,   x and c fail
    order = ["a", "x", "b", "c", "y", "d", "e"]
    parents = {"b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["c"], "y": ["x"]}
    calls: list[tuple[str, str]] = []
    run = run_dag(order, parents, lambda n: n not in ("c", "x"), threads=1,
                  on_skip=lambda n, r: calls.append((n, r)))
    # priorities a 3, then x b c 2 (ties by order), y d e 1: x fails before c does
    assert run.failed == ["x", "c"]
    assert calls == [("y", "x"), ("d", "c"), ("e", "c")]
    assert run.skipped == {"y": "x", "d": "c", "e": "c"}
    assert run.succeeded == ["a", "b"]
