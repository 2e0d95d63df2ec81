"""A small DAG over string node keys, backed by networkx; it knows nothing of SQL.

Orders are deterministic (ties broken by name) so builds, listings and artifacts are stable.

    >>> dag = DAG()
    >>> dag.add_edge("stg", "features"); dag.add_edge("features", "training_set")
    >>> dag.order()
    ['stg', 'features', 'training_set']
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx


SOURCE_PREFIX = "source:"  # a source is the node source:<name>; a model is its name


class CycleError(Exception):
    """The graph has a cycle; ``path`` lists it as a → b → a."""

    def __init__(self, path: list[str]) -> None:
        self.path = path
        super().__init__(" -> ".join(path))


class DAG:
    """Nodes and ``upstream -> downstream`` edges."""

    def __init__(self) -> None:
        self._graph: nx.DiGraph = nx.DiGraph()
        self._order: list[str] | None = None  # the topological order, made once per change

    def add_node(self, node: str) -> None:
        self._graph.add_node(node)
        self._order = None

    def add_edge(self, upstream: str, downstream: str) -> None:
        self._graph.add_edge(upstream, downstream)
        self._order = None

    @property
    def nodes(self) -> list[str]:
        return sorted(self._graph.nodes)

    def edges(self) -> list[tuple[str, str]]:
        return sorted(self._graph.edges)

    def parents(self, node: str) -> list[str]:
        return sorted(self._graph.predecessors(node))

    def children(self, node: str) -> list[str]:
        return sorted(self._graph.successors(node))

    def upstream(self, node: str, depth: int | None = None) -> set[str]:
        """Ancestors of ``node`` up to ``depth`` edges away (all when None)."""
        return self._reach(node, self._graph.predecessors, depth)

    def downstream(self, node: str, depth: int | None = None) -> set[str]:
        """Descendants of ``node`` up to ``depth`` edges away (all when None)."""
        return self._reach(node, self._graph.successors, depth)

    @staticmethod
    def _reach(node: str, step, depth: int | None) -> set[str]:  # noqa: ANN001
        seen: set[str] = set()
        frontier = {node}
        level = 0
        while frontier and (depth is None or level < depth):
            frontier = {n for f in frontier for n in step(f)} - seen
            seen |= frontier
            level += 1
        seen.discard(node)
        return seen

    def check_acyclic(self) -> None:
        """Raise CycleError with the cycle as a closed path."""
        try:
            cycle = nx.find_cycle(self._graph)
        except nx.NetworkXNoCycle:
            return
        path = [edge[0] for edge in cycle]
        start = path.index(min(path))  # deterministic rotation
        path = path[start:] + path[:start]
        raise CycleError([*path, path[0]])

    def order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """Topological order (ties by name), restricted to ``nodes`` when given.

        Raises:
            CycleError: the graph has a cycle (checked once per change of the graph).
        """
        if self._order is None:
            self.check_acyclic()
            self._order = list(nx.lexicographical_topological_sort(self._graph))
        ordered = self._order
        if nodes is None:
            return list(ordered)
        keep = set(nodes)
        return [n for n in ordered if n in keep]

    def subgraph_edges(self, nodes: Iterable[str]) -> list[tuple[str, str]]:
        keep = set(nodes)
        return sorted((a, b) for a, b in self._graph.edges if a in keep and b in keep)
