"""The label policy of exports: which data usage labels an export may carry out.

An export is refused (the build is kept; the export fails, exit 1) when a column of its model
carries a label the export may not carry:

- C12 (no export at all): never exported, no override;
- C9 (no data science): refused when the export is for ML (``purpose: ml``, the default);
- the labels its destination refuses (``destination: {refuse_labels: [C2]}``).

``allow_labels: {C9: "reason"}`` on the export is the explicit, audited override: the export
runs, and the reason and the columns it let through are printed and recorded in
run_results.json. The labels come from ``runner.compile.lineage.derived_labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from destinations import ExportSpec
from runner.compile.lineage import ProjectLineage
from runner.project.labels import SourceLabels, label_meaning, labels_of

NEVER = "C12"  # no export at all
FOR_ML = "C9"  # no data science
SHOWN = 5  # refused columns a message names


@dataclass(frozen=True)
class Verdict:
    """What the policy says of one export: the refused columns (``column``, ``label``,
    ``source``, ``via``) and the overrides used (label -> reason and columns)."""

    refused: list[dict[str, Any]]
    allowed: dict[str, dict[str, Any]]

    def record(self) -> dict[str, Any] | None:
        """What run_results.json keeps of it (None when no label was involved)."""
        if not self.refused and not self.allowed:
            return None
        return {"refused": self.refused, "allowed": self.allowed}


def refused_labels(spec: ExportSpec) -> set[str]:
    """The labels ``spec`` may not carry without an override."""
    return destination_refuses(spec) | ({FOR_ML} if spec.purpose == "ml" else set())


def destination_refuses(spec: ExportSpec | None) -> set[str]:
    """The labels nothing may carry to ``spec``'s destination whatever its purpose: C12 and
    the destination's ``refuse_labels`` (C12 alone for a destination no export names)."""
    return {NEVER, *(spec.refuse_labels if spec is not None else ())}


def judge(spec: ExportSpec, labels: dict[str, dict[str, frozenset[str]]],
          lineage: ProjectLineage, source_labels: SourceLabels) -> Verdict:
    """The policy's verdict on exporting ``spec.model`` through ``spec``."""
    refused, allowed = [], {}
    barred = refused_labels(spec)
    for column, carried in (labels.get(spec.model) or {}).items():
        for label in sorted(carried & barred):
            if label in spec.allow_labels and label != NEVER:
                entry = allowed.setdefault(label, {"reason": spec.allow_labels[label],
                                                   "columns": []})
                entry["columns"].append(column)
                continue
            source, via = _origin(lineage, spec.model, column, label, source_labels)
            refused.append({"column": column, "label": label, "source": source, "via": via})
    return Verdict(refused, allowed)


def _origin(lineage: ProjectLineage, model: str, column: str, label: str,
            labels: SourceLabels) -> tuple[str, bool]:
    """The labelled source field a column's label comes from (its value first), and whether it
    reaches the column only through a join key, filter or grouping."""
    traced = lineage.trace(model, column)
    for refs, via in ((traced.value, False), (traced.via, True)):
        for ref in sorted(refs):
            if label in labels_of(ref, labels):
                return _labelled_field(ref, label, labels), via
    return "?", False


def _labelled_field(ref: str, label: str, labels: SourceLabels) -> str:
    """The declared field (or the dataset) of ``ref`` that carries ``label``."""
    relation, _, path = ref.partition(".")
    given = labels.get(relation) or {}
    for name, field_labels in sorted((given.get("fields") or {}).items()):
        if label in field_labels and labels_of(ref, {relation: {"fields": {name: {label}}}}):
            return f"{relation}.{name}"
    return f"{relation} (dataset label)"


def refusal_message(spec: ExportSpec, verdict: Verdict) -> str:
    """One line naming each refused column, its label and the source field it came from
    (columns with the same label from the same field together)."""
    groups: dict[tuple[str, str, bool], list[str]] = {}
    for r in verdict.refused:
        groups.setdefault((r["label"], r["source"], r["via"]), []).append(r["column"])
    parts = []
    for (label, source, via), columns in list(groups.items())[:SHOWN]:
        shown = ", ".join(columns)
        parts.append(f"{'column' if len(columns) == 1 else 'columns'} {shown} "
                     f"{'carries' if len(columns) == 1 else 'carry'} {label} from {source}"
                     f"{' (through a join key, filter or grouping)' if via else ''} "
                     f"({label_meaning(label)})")
    if len(groups) > SHOWN:
        parts.append(f"and {len(groups) - SHOWN} more")
    overridable = sorted({r["label"] for r in verdict.refused} - {NEVER})
    how = "remove those columns from the model" + (
        f", or add `allow_labels: {{{overridable[0]}: \"<reason>\"}}` to {spec.keypath} in "
        "project.yml (an audited override)" if overridable else
        f" ({NEVER} data is never exported)")
    return f"refused by the label policy: {'; '.join(parts)}; {how}"


def override_message(spec: ExportSpec, verdict: Verdict) -> str:
    """The line printed when ``allow_labels`` let labelled columns through."""
    parts = [f"{label} on {', '.join(entry['columns'])} (reason: {entry['reason']})"
             for label, entry in sorted(verdict.allowed.items())]
    return (f"export {spec.model} -> {spec.name}: allowed by allow_labels in {spec.keypath}: "
            + "; ".join(parts))
