"""``runner lineage MODEL.COLUMN [--via]`` and ``runner ls --labels``: where a column comes
from, hop by hop down to the sources' columns, and which data usage labels it carries.

Nothing is connected to: the sources' columns are project.yml's and those the last build on the
target recorded (``runner.run.session.workspace_lineage``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from runner.compile.lineage import ProjectLineage
from runner.errors import ProjectError
from runner.project.labels import SourceLabels, labels_of
from runner.run.options import BuildOptions
from runner.run.session import open_workspace, workspace_lineage
from runner.validation import did_you_mean

Labels = dict[str, dict[str, frozenset[str]]]


def add_lineage_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``runner lineage``."""
    p = sub.add_parser("lineage", parents=[common],
                       help="print where a model column comes from, down to the sources")
    p.add_argument("column", metavar="MODEL.COLUMN")
    p.add_argument("--via", action="store_true",
                   help="also follow the join keys, filters and groupings that decide its rows")
    p.add_argument("-t", "--target", help="target whose recorded source columns are used")
    p.add_argument("--vars", type=yaml.safe_load, metavar="YAML", help="override project vars")
    p.set_defaults(func=lineage_command)


def lineage_command(args: argparse.Namespace) -> int:
    """Print the lineage tree of ``args.column``; exit 2 for an unknown model or column."""
    lineage, labels, given = _lineage(args.project_dir, args.target, args.vars)
    model, _, column = args.column.partition(".")
    if model not in lineage.models:
        raise ProjectError(f"unknown model '{model}'{did_you_mean(model, lineage.models)}; "
                           "give MODEL.COLUMN, e.g. training_set.user_id")
    known = lineage.columns(model)
    if not column or lineage.models[model].get(column) is None:
        hint = did_you_mean(column, known)
        raise ProjectError(f"model {model} has no column '{column}'" + (hint or (
            f"; its columns: {', '.join(known[:8])}{', …' if len(known) > 8 else ''}")))
    for line in lineage_lines(lineage, labels, given, model, column, via=args.via):
        print(line)
    return 0


def lineage_lines(lineage: ProjectLineage, labels: Labels, given: SourceLabels, model: str,
                  column: str, *, via: bool = False) -> list[str]:
    """The tree of ``model.column``: one line per hop, each with its labels; ``via`` adds the
    columns that decide its rows (marked ``via``). A column reached twice is expanded once."""
    spelled = next((c for c in lineage.columns(model) if c.lower() == column.lower()), column)
    lines = [f"{model}.{spelled}{_shown(labels.get(model, {}).get(spelled, frozenset()))}"]
    seen: set[str] = set()

    def label_of(ref: str) -> frozenset[str]:
        relation, _, name = ref.partition(".")
        if relation in lineage.models:
            top = name.partition(".")[0]
            return next((v for c, v in labels.get(relation, {}).items()
                         if c.lower() == top.lower()), frozenset())
        return labels_of(ref, given)

    def walk(model_name: str, col: str, indent: str) -> None:
        own = lineage.models[model_name].get(col)
        if own is None:
            return
        edges = [(r, False) for r in sorted(own.value)]
        edges += [(r, True) for r in sorted(own.via - own.value)] if via else []
        for index, (ref, is_via) in enumerate(edges):
            last = index == len(edges) - 1
            relation, _, name = ref.partition(".")
            kind = _kind(lineage, relation)
            again = ref in seen and relation in lineage.models
            lines.append(f"{indent}{'└─ ' if last else '├─ '}{ref}{kind}"
                         f"{' via' if is_via else ''}{_shown(label_of(ref))}"
                         f"{' (see above)' if again else ''}")
            if relation in lineage.models and not again:
                seen.add(ref)
                walk(relation, name.partition(".")[0], indent + ("   " if last else "│  "))

    walk(model, spelled, "")
    traced = lineage.trace(model, spelled)
    lines.append(f"sources: {', '.join(sorted(traced.value)) or '(none: a constant)'}")
    if traced.via:
        lines.append(f"via (join keys, filters, groupings): {', '.join(sorted(traced.via))}")
    return lines


def _kind(lineage: ProjectLineage, relation: str) -> str:
    return " (source)" if relation in lineage.sources else ""


def _shown(labels: Iterable[str]) -> str:
    labels = sorted(labels)
    return f"  [{', '.join(labels)}]" if labels else ""


def label_lines(lineage: ProjectLineage, labels: Labels, models: Iterable[str]) -> list[str]:
    """``runner ls --labels``: each model, then each labelled column with its labels."""
    lines = []
    for model in models:
        labelled = labels.get(model) or {}
        lines.append(model if labelled else f"{model}  (no labels)")
        lines.extend(f"  {column}: {', '.join(sorted(labelled[column]))}"
                     for column in lineage.columns(model) if column in labelled)
    return lines


def print_labels(project_dir: Path, target: str | None, vars_: dict[str, Any] | None,
                 models: Iterable[str], echo: Callable[[str], None] = print) -> int:
    """Print ``label_lines`` of ``models``."""
    lineage, labels, _ = _lineage(project_dir, target, vars_)
    for line in label_lines(lineage, labels, models):
        echo(line)
    return 0


def _lineage(project_dir: Path, target: str | None, vars_: dict[str, Any] | None
             ) -> tuple[ProjectLineage, Labels, SourceLabels]:
    if vars_ is not None and not isinstance(vars_, dict):
        raise ProjectError("--vars: expected a YAML mapping, e.g. '{as_of_date: 2026-05-01}'")
    workspace = open_workspace(project_dir, BuildOptions(target=target, vars=vars_))
    return workspace_lineage(workspace, echo=print)
