"""The layered drawing of the DAG (runner.graph.layout): every edge points down, no two boxes
overlap, the same graph always gets the same drawing, and a thousand models lay out fast."""

from __future__ import annotations

import random
import time

from runner.graph.dag import DAG
from runner.graph.layout import NODE_HEIGHT, NODE_WIDTH, Layout, layout


def random_dag(size: int, seed: int = 7) -> DAG:
    """``size`` models in 8 layers, each reading one to three earlier ones, over 2 sources."""
    rng = random.Random(seed)
    dag = DAG()
    names = [f"m{i:04d}" for i in range(size)]
    for i, name in enumerate(names):
        if i < size // 10:
            dag.add_edge(rng.choice(["source:events", "source:profiles"]), name)
        else:
            for parent in rng.sample(names[:i], min(i, rng.randint(1, 3))):
                dag.add_edge(parent, name)
    return dag


def assert_well_drawn(dag: DAG, box: Layout) -> None:
    assert set(box.positions) == set(dag.nodes)
    for parent, child in dag.edges():
        assert box.positions[parent][1] + NODE_HEIGHT < box.positions[child][1], (parent, child)
        assert box.layers[parent] < box.layers[child]
    spots = sorted(box.positions.values(), key=lambda p: (p[1], p[0]))
    for (x1, y1), (x2, y2) in zip(spots, spots[1:]):
        if y1 == y2:  # boxes share rows only: a row's boxes must not touch
            assert x2 - x1 >= NODE_WIDTH, (x1, x2, y1)
    for x, y in box.positions.values():
        assert 0 <= x <= box.width - NODE_WIDTH + 1e-6 and 0 <= y <= box.height - NODE_HEIGHT
    assert len(set(box.positions.values())) == len(box.positions)


def test_longest_path_layers_and_downward_edges() -> None:
    dag = DAG()
    for a, b in [("source:raw", "stg"), ("stg", "features"), ("features", "training"),
                 ("stg", "training"), ("source:raw", "labels"), ("labels", "training")]:
        dag.add_edge(a, b)
    box = layout(dag)
    assert box.layers == {"source:raw": 0, "stg": 1, "labels": 1, "features": 2, "training": 3}
    assert_well_drawn(dag, box)


def test_wide_layer_wraps_into_rows_above_the_next_layer() -> None:
    dag = DAG()
    for i in range(20):
        dag.add_edge("root", f"leaf{i:02d}")
        dag.add_edge(f"leaf{i:02d}", "sink")
    box = layout(dag, max_per_row=8)
    rows = sorted({y for node, (_, y) in box.positions.items() if node.startswith("leaf")})
    assert len(rows) == 3  # 8 + 8 + 4
    assert_well_drawn(dag, box)
    assert box.positions["sink"][1] > rows[-1]


def test_barycentre_keeps_chains_apart() -> None:
    """Two independent chains are not crossed: each child sits on its parent's side."""
    dag = DAG()
    for a, b in [("a1", "b2"), ("a2", "b1"), ("b1", "c2"), ("b2", "c1")]:
        dag.add_edge(a, b)
    box = layout(dag)
    x = {n: p[0] for n, p in box.positions.items()}
    assert (x["a1"] < x["a2"]) == (x["b2"] < x["b1"]) == (x["c1"] < x["c2"])


def test_deterministic() -> None:
    first, second = layout(random_dag(300)), layout(random_dag(300))
    assert first.positions == second.positions and first.layers == second.layers


def test_empty_graph() -> None:
    box = layout(DAG())
    assert (box.positions, box.width, box.height) == ({}, 0.0, 0.0)


def test_thousand_models() -> None:
    dag = random_dag(1000)
    started = time.perf_counter()
    box = layout(dag)
    seconds = time.perf_counter() - started
    print(f"\nlayout of {len(dag.nodes)} nodes, {len(dag.edges())} edges: {seconds:.3f} s, "
          f"{box.width:.0f} x {box.height:.0f} px")
    assert_well_drawn(dag, box)
