"""The DAG: deterministic order, made once per change, and cycles as closed paths."""

from __future__ import annotations

import pytest

from runner.graph.dag import DAG, CycleError


def test_order_is_remade_after_a_change() -> None:
    dag = DAG()
    for a, b in [("source:raw", "stg"), ("stg", "b"), ("stg", "a")]:
        dag.add_edge(a, b)
    assert dag.order() == ["source:raw", "stg", "a", "b"]  # ties by name
    assert dag.order({"b", "stg"}) == ["stg", "b"]
    dag.add_edge("b", "a")
    assert dag.order() == ["source:raw", "stg", "b", "a"]
    dag.add_edge("a", "stg")
    with pytest.raises(CycleError) as info:
        dag.order()
    assert info.value.path == ["a", "stg", "b", "a"]


def test_a_returned_order_is_the_callers() -> None:
    dag = DAG()
    dag.add_edge("x", "y")
    dag.order().append("z")
    assert dag.order() == ["x", "y"]
