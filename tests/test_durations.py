"""The scheduler's weights: past build seconds from the target's state, else a size estimate."""

from __future__ import annotations

import json
from pathlib import Path

from runner import BuildOptions, build
from runner.compile.plan import CompiledModel, Plan
from runner.run.durations import estimates, model_estimates
from runner.run.scheduler import run_dag
from runner.run.state import TargetState


def test_known_seconds_are_kept_and_the_others_scaled_by_size() -> None:
    # seconds per character: a 0.02, b 0.04 -> median 0.03
    assert estimates({"a": 100, "b": 100, "c": 50, "d": 0}, {"a": 2.0, "b": 4.0, "c": None}) == {
        "a": 2.0, "b": 4.0, "c": 1.5, "d": 0.0}
    assert estimates({"a": 10, "b": 30, "c": 20}, {}) == {"a": 0.5, "b": 1.5, "c": 1.0}
    assert estimates({"a": 0}, {}) == {"a": 1.0}
    assert estimates({}, {"gone": 3.0}) == {}


def _model(name: str, sql: str) -> CompiledModel:
    return CompiledModel(name, f"models/{name}.sql", "table", "f", f"{name}__f", sql)


def test_estimates_from_a_written_state(tmp_path: Path) -> None:
    path = tmp_path / "target" / "state" / "local.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"models": {"slow": {"seconds": 9.0}, "quick": {"seconds": 0.5},
                                           "never": {"seconds": None}}}))
    plan = Plan({name: _model(name, "SELECT 1 AS x".ljust(100)) for name in
                 ("quick", "never", "new", "slow")}, {"quick", "never", "new", "slow"})
    weights = model_estimates(plan, TargetState(path), plan.selected)
    # median of 0.005 and 0.09 seconds per character, times 100 characters
    assert weights == {"slow": 9.0, "quick": 0.5, "never": 4.75, "new": 4.75}
    started: list[str] = []
    run_dag(plan.selected, {}, lambda n: started.append(n) or True, duration=weights)
    assert started == ["slow", "never", "new", "quick"]


def test_a_build_starts_the_model_that_took_longest_last_time(project) -> None:
    project.model("fast", "SELECT order_id FROM raw_orders")
    project.model("slow", "SELECT user_id FROM raw_users")
    first = build(project.root, BuildOptions(threads=1), echo=lambda line: None)
    assert [r.name for r in sorted(first.results, key=lambda r: r.started_at)] == ["fast", "slow"]
    path = project.root / "target" / "state" / "local.json"
    state = json.loads(path.read_text())
    state["models"]["slow"]["seconds"] = 60.0
    path.write_text(json.dumps(state))
    again = build(project.root, BuildOptions(threads=1, full_refresh=True), echo=lambda line: None)
    assert [r.name for r in sorted(again.results, key=lambda r: r.started_at)] == ["slow", "fast"]
