"""Render the project DAG as Mermaid or Graphviz DOT text."""

from __future__ import annotations

from runner.project.loader import Project
from runner.graph.dag import SOURCE_PREFIX


def render(project: Project, models: set[str], fmt: str) -> str:
    """The selected models, the sources they read, and the edges between them."""
    nodes = set(models) | {p for m in models for p in project.dag.parents(m)
                           if p.startswith(SOURCE_PREFIX)}
    edges = project.dag.subgraph_edges(nodes)
    ordered = [n for n in project.dag.order() if n in nodes]
    ids = {n: f"n{i}" for i, n in enumerate(ordered)}

    def label(node: str) -> str:
        if node.startswith(SOURCE_PREFIX):
            return f"source: {node[len(SOURCE_PREFIX):]}"
        return f"{node} ({project.models[node].config.materialized})"

    if fmt == "dot":
        lines = ["digraph project {", "  rankdir=LR;"]
        for node in ordered:
            shape = "cylinder" if node.startswith(SOURCE_PREFIX) else "box"
            lines.append(f'  {ids[node]} [label="{label(node)}", shape={shape}];')
        lines += [f"  {ids[a]} -> {ids[b]};" for a, b in edges]
        return "\n".join([*lines, "}"])
    lines = ["flowchart LR"]
    for node in ordered:
        text = label(node)
        lines.append(f'  {ids[node]}[("{text}")]' if node.startswith(SOURCE_PREFIX)
                     else f'  {ids[node]}["{text}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    return "\n".join(lines)
