"""A layered drawing of a DAG: every node a box at (x, y), every edge pointing down.

Longest-path layering puts a node one layer below its lowest parent; a few barycentre sweeps
(down, then up) order each layer by the mean position of its neighbours in the layers around
it, which keeps edges short and crossings few; a layer wider than ``max_per_row`` boxes wraps
into rows, so a thousand models make a readable page rather than a strip. Ties are broken by
name, so the same graph always gets the same drawing. It knows nothing of SQL.

    >>> dag = DAG()
    >>> dag.add_edge("a", "b"); dag.add_edge("a", "c")
    >>> box = layout(dag)
    >>> box.layers == {"a": 0, "b": 1, "c": 1}, box.positions["a"][1] < box.positions["b"][1]
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runner.graph.dag import DAG

NODE_WIDTH = 180.0
NODE_HEIGHT = 30.0
H_GAP = 24.0      # between boxes of a row
ROW_GAP = 26.0    # between the rows of one wrapped layer
LAYER_GAP = 70.0  # between layers: room for the edges to bend
SWEEPS = 4


@dataclass
class Layout:
    """Where each node's box goes (its top-left corner), its layer and the canvas size."""

    positions: dict[str, tuple[float, float]]
    layers: dict[str, int]
    width: float
    height: float
    node_width: float = NODE_WIDTH
    node_height: float = NODE_HEIGHT


def layout(dag: DAG, max_per_row: int | None = None) -> Layout:
    """Lay ``dag`` out top to bottom.

    Args:
        dag: the graph (sources and models alike: a node is a string).
        max_per_row: boxes per row before a layer wraps (default: about twice the square root
            of the node count, at least 8).

    Returns:
        The layout; an edge's parent is always on a row above its child's.
    """
    order = dag.order()
    layer = layers(dag, order)
    rows = _ordered(dag, layer, order)
    per_row = max_per_row or max(8, math.ceil(2 * math.sqrt(max(len(order), 1))))
    return _place(rows, layer, per_row)


def layers(dag: DAG, order: list[str] | None = None) -> dict[str, int]:
    """Longest-path layering: a root at 0, any other node one below its deepest parent
    (``order``: ``dag.order()`` when the caller has it already)."""
    layer: dict[str, int] = {}
    for node in order if order is not None else dag.order():
        layer[node] = 1 + max((layer[p] for p in dag.parents(node)), default=-1)
    return layer


def _ordered(dag: DAG, layer: dict[str, int], order: list[str]) -> list[list[str]]:
    """The nodes of each layer in drawing order, after the barycentre sweeps."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in sorted(order):
        rows[layer[node]].append(node)
    parents = {n: dag.parents(n) for n in order}
    children = {n: dag.children(n) for n in order}
    for _ in range(SWEEPS):
        rank = _ranks(rows)
        for row in rows[1:]:
            _sort_by_barycentre(row, parents, rank)
            rank.update(_ranks([row]))
        for row in reversed(rows[:-1]):
            _sort_by_barycentre(row, children, rank)
            rank.update(_ranks([row]))
    return rows


def _ranks(rows: list[list[str]]) -> dict[str, float]:
    """Each node's position in its layer, from 0 to 1 (layers of any width compare)."""
    return {n: (i + 0.5) / len(row) for row in rows for i, n in enumerate(row)}


def _sort_by_barycentre(row: list[str], neighbours: dict[str, list[str]],
                        rank: dict[str, float]) -> None:
    """Sort ``row`` in place by the mean rank of each node's neighbours (a node without any
    keeps its own rank), ties by the current order."""
    own = {n: i for i, n in enumerate(row)}

    def key(node: str) -> tuple[float, int]:
        near = neighbours[node]
        centre = sum(rank[n] for n in near) / len(near) if near else rank[node]
        return centre, own[node]

    row.sort(key=key)


def _place(rows: list[list[str]], layer: dict[str, int], per_row: int) -> Layout:
    """Coordinates: each layer's rows centred on the widest row, layers stacked downwards."""
    step = NODE_WIDTH + H_GAP
    widest = max((min(len(row), per_row) for row in rows), default=0)
    positions: dict[str, tuple[float, float]] = {}
    y = 0.0
    for row in rows:
        for start in range(0, len(row), per_row):
            chunk = row[start:start + per_row]
            offset = (widest - len(chunk)) * step / 2
            for i, node in enumerate(chunk):
                positions[node] = (offset + i * step, y)
            y += NODE_HEIGHT + ROW_GAP
        y += LAYER_GAP - ROW_GAP
    height = y - LAYER_GAP if rows else 0.0
    return Layout(positions, layer, max(widest * step - H_GAP, 0.0), height)
