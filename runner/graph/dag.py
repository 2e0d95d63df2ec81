"""A small DAG over string node keys; it knows nothing of SQL.

Orders are deterministic (ties broken by name) so builds, listings and artifacts are stable.

    >>> dag = DAG()
    >>> dag.add_edge("stg", "features"); dag.add_edge("features", "training_set")
    >>> dag.order()
    ['stg', 'features', 'training_set']
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


SOURCE_PREFIX = "source:"  # a source is the node source:<name>; a model is its name


class CycleError(Exception):
    """The graph has a cycle; ``path`` lists it as a → b → a."""

    def __init__(self, path: list[str]) -> None:
        self.path = path
        super().__init__(" -> ".join(path))


class DAG:
    """Nodes and ``upstream -> downstream`` edges.

    The adjacency is kept in plain dicts and the order made with a heap (Kahn's algorithm,
    ties by name, as networkx's ``lexicographical_topological_sort``): every command orders the
    graph, and importing networkx costs more than that does. networkx is imported only to
    find the path of a cycle.
    """

    def __init__(self) -> None:
        # insertion-ordered (dicts as ordered sets), so a cycle is reported as networkx found it
        self._parents: dict[str, dict[str, None]] = {}
        self._children: dict[str, dict[str, None]] = {}
        self._order: list[str] | None = None  # the topological order, made once per change

    def add_node(self, node: str) -> None:
        if node not in self._parents:
            self._parents[node], self._children[node] = {}, {}
            self._order = None

    def add_edge(self, upstream: str, downstream: str) -> None:
        self.add_node(upstream)
        self.add_node(downstream)
        self._parents[downstream][upstream] = None
        self._children[upstream][downstream] = None
        self._order = None

    @property
    def nodes(self) -> list[str]:
        return sorted(self._parents)

    def edges(self) -> list[tuple[str, str]]:
        return sorted((a, b) for a, children in self._children.items() for b in children)

    def parents(self, node: str) -> list[str]:
        return sorted(self._parents[node])

    def children(self, node: str) -> list[str]:
        return sorted(self._children[node])

    def upstream(self, node: str, depth: int | None = None) -> set[str]:
        """Ancestors of ``node`` up to ``depth`` edges away (all when None)."""
        return self._reach(node, self._parents, depth)

    def downstream(self, node: str, depth: int | None = None) -> set[str]:
        """Descendants of ``node`` up to ``depth`` edges away (all when None)."""
        return self._reach(node, self._children, depth)

    @staticmethod
    def _reach(node: str, step: dict[str, dict[str, None]], depth: int | None) -> set[str]:
        seen: set[str] = set()
        frontier = {node}
        level = 0
        while frontier and (depth is None or level < depth):
            frontier = {n for f in frontier for n in step[f]} - seen
            seen |= frontier
            level += 1
        seen.discard(node)
        return seen

    def check_acyclic(self) -> None:
        """Raise CycleError with the cycle as a closed path."""
        if self._order is None:
            self._order = self._sorted()

    def _sorted(self) -> list[str]:
        waiting = {node: len(parents) for node, parents in self._parents.items()}
        ready = [node for node, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for child in self._children[node]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        if len(order) < len(waiting):
            raise CycleError(self._cycle())
        return order

    def _cycle(self) -> list[str]:
        import networkx as nx  # only to report a cycle

        graph = nx.DiGraph()
        graph.add_nodes_from(self._parents)
        graph.add_edges_from((a, b) for a, children in self._children.items() for b in children)
        path = [edge[0] for edge in nx.find_cycle(graph)]
        start = path.index(min(path))  # deterministic rotation
        path = path[start:] + path[:start]
        return [*path, path[0]]

    def order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """Topological order (ties by name), restricted to ``nodes`` when given.

        Raises:
            CycleError: the graph has a cycle (checked once per change of the graph).
        """
        self.check_acyclic()
        ordered = self._order or []
        if nodes is None:
            return list(ordered)
        keep = set(nodes)
        return [n for n in ordered if n in keep]

    def subgraph_edges(self, nodes: Iterable[str]) -> list[tuple[str, str]]:
        keep = set(nodes)
        return sorted((a, b) for a, b in self.edges() if a in keep and b in keep)
