"""Data usage labels: Platform's label names and the labels project.yml gives the sources.

Adobe's core labels (contract and DULE reference): contract C1-C12, identity I1-I2, sensitive
S1-S3, PSPD, RHD, and the beta ``Third-Party``; a project adds its own under ``custom_labels:``.
A source declares labels for the whole dataset (``sources.<name>.labels``, they apply to every
field) and per field (a column entry ``{description, labels}``). Labels are the same shape
whatever gives them (project.yml here, Platform's labels API for a Data Distiller target)::

    {"experience_events": {"dataset": {"C2"}, "fields": {"commerce": {"C9"}}}}

>>> labels_of("experience_events.commerce.order.priceTotal",
...           {"experience_events": {"dataset": {"C2"}, "fields": {"commerce": {"C9"}}}})
frozenset({'C2', 'C9'})
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runner.errors import ProjectError
from runner.validation import PROJECT_FILE, yaml_lines

CORE_LABELS: dict[str, str] = {
    "C1": "export only aggregated, no identifiers",
    "C2": "no export to third parties",
    "C3": "no combination with directly identifiable information",
    "C4": "no ad or content targeting",
    "C5": "no interest-based cross-site targeting",
    "C6": "no on-site ad targeting",
    "C7": "no on-site content targeting",
    "C8": "no measurement of own sites or apps",
    "C9": "no data science",
    "C10": "no stitched-identity activation",
    "C11": "no Segment Match",
    "C12": "no export at all",
    "I1": "directly identifiable",
    "I2": "indirectly identifiable",
    "S1": "precise geolocation",
    "S2": "broad geofence",
    "S3": "sensitive",
    "PSPD": "permitted sensitive personal data",
    "RHD": "protected health information",
    "Third-Party": "third-party data",
}

SourceLabels = dict[str, dict[str, Any]]  # source -> {"dataset": set[str], "fields": {field: set[str]}}


def label_meaning(label: str) -> str:
    """What the label restricts, for messages (a custom label: ``custom label``)."""
    return CORE_LABELS.get(label, "custom label")


def check_labels(raw: Any, keypath: tuple[Any, ...], known: Iterable[str], root: Path
                 ) -> frozenset[str]:
    """The label names of a ``labels:`` list, spelled canonically.

    Raises:
        ProjectError: not a list of strings, or a name that is no core or custom label (the
            line in project.yml, and the closest name).
    """
    shown = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keypath).lstrip(".")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ProjectError(f"{shown}: expected a list of label names such as [C9, I1], got "
                           f"{raw!r}", PROJECT_FILE, _line(root, keypath))
    names = {n.lower(): n for n in known}
    found = set()
    for index, label in enumerate(raw):
        canonical = names.get(label.strip().lower())
        if canonical is None:
            close = difflib.get_close_matches(label.lower(), list(names), n=1, cutoff=0.5)
            hint = f" (did you mean '{names[close[0]]}'?)" if close else ""
            raise ProjectError(f"{shown}: unknown data usage label '{label}'{hint}; use a core "
                               "label (C1-C12, I1, I2, S1-S3, PSPD, RHD) or declare it under "
                               "custom_labels:", PROJECT_FILE, _line(root, (*keypath, index)))
        found.add(canonical)
    return frozenset(found)


def _line(root: Path, keypath: tuple[Any, ...]) -> int | None:
    """The line of ``keypath`` in project.yml (read again: only an error needs it)."""
    try:
        lines = yaml_lines((root / PROJECT_FILE).read_text(encoding="utf-8-sig"))
    except OSError:
        return None
    for end in range(len(keypath), 0, -1):
        if keypath[:end] in lines:
            return lines[keypath[:end]]
    return None


def labels_of(ref: str, labels: SourceLabels) -> frozenset[str]:
    """The labels a source column ref (``source.column[.field...]`` or ``source.*``) carries:
    the dataset's, and those of every field on its path or under it."""
    relation, _, path = ref.partition(".")
    given = labels.get(relation)
    if not given:
        return frozenset()
    found = set(given.get("dataset") or ())
    wanted = path.lower()
    for name, field_labels in (given.get("fields") or {}).items():
        name = name.lower()
        if (wanted == "*" or wanted == name or wanted.startswith(name + ".")
                or name.startswith(wanted + ".")):
            found |= set(field_labels)
    return frozenset(found)


def merge_labels(*parts: Mapping[str, Mapping[str, Any]]) -> SourceLabels:
    """The union of several ``SourceLabels`` (project.yml's and Platform's, say)."""
    merged: SourceLabels = {}
    for part in parts:
        for source, given in part.items():
            into = merged.setdefault(source, {"dataset": set(), "fields": {}})
            into["dataset"] |= set(given.get("dataset") or ())
            for name, field_labels in (given.get("fields") or {}).items():
                into["fields"].setdefault(name, set()).update(field_labels)
    return merged
