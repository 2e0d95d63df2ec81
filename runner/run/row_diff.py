"""Compare two sets of rows as multisets and say how they differ, readably.

Rows are compared over the expected columns, as values (``Decimal('1.50') == Decimal('1.5')``,
a DOUBLE exactly): each expected row that is produced (as many times as it is expected) is a
match. Of the rest, an expected row and a produced one that agree on the first column (a key,
usually) or on half the columns or more are paired (the most alike first) and shown as one row
whose other columns differ; the others are missing (expected, not produced) or extra (produced,
not expected)::

    >>> d = diff_rows([{"id": 1, "n": 2}], [{"id": 1, "n": 3}], ["id", "n"])
    >>> d.lines()
    ['differs: id=1: n expected 2, got 3']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RowDiff:
    """What differs: pairs of (expected, produced) rows, missing rows and extra rows."""

    columns: list[str]
    differs: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.differs or self.missing or self.extra)

    @property
    def count(self) -> int:
        """Rows that are wrong: each differing pair once, each missing and extra row."""
        return len(self.differs) + len(self.missing) + len(self.extra)

    def summary(self) -> str:
        """``1 row differs, 1 missing, 0 extra``."""
        return (f"{len(self.differs)} row{'s' if len(self.differs) != 1 else ''} "
                f"differ{'s' if len(self.differs) == 1 else ''}, {len(self.missing)} missing, "
                f"{len(self.extra)} extra")

    def lines(self) -> list[str]:
        """One line per wrong row (pairs first, then missing, then extra rows)."""
        out = []
        for want, got in self.differs:
            same = [c for c in self.columns if _same(want[c], got[c])]
            changed = [f"{c} expected {shown(want[c])}, got {shown(got[c])}"
                       for c in self.columns if c not in same]
            out.append(f"differs: {_row(want, same)}: " + "; ".join(changed))
        out += [f"missing: {_row(row, self.columns)}" for row in self.missing]
        out += [f"extra:   {_row(row, self.columns)}" for row in self.extra]
        return out

    def records(self) -> list[dict[str, Any]]:
        """The wrong rows for run_results.json: ``{"diff": kind, "expected"/"actual": row}``."""
        return ([{"diff": "differs", "expected": w, "actual": g} for w, g in self.differs]
                + [{"diff": "missing", "expected": r} for r in self.missing]
                + [{"diff": "extra", "actual": r} for r in self.extra])


def diff_rows(expected: list[dict[str, Any]], actual: list[dict[str, Any]], columns: list[str]
              ) -> RowDiff:
    """How ``actual`` (projected on ``columns``) differs from ``expected`` as multisets."""
    actual = [{c: row.get(c) for c in columns} for row in actual]
    expected = [{c: row.get(c) for c in columns} for row in expected]
    left = Counter(_key(r, columns) for r in actual)
    missing = []
    for row in expected:
        key = _key(row, columns)
        if left[key] > 0:
            left[key] -= 1
        else:
            missing.append(row)
    extra = []
    for row in actual:
        key = _key(row, columns)
        if left[key] > 0:
            left[key] -= 1
            extra.append(row)
    diff = RowDiff(columns)
    for row in missing:
        best, score = None, 0
        for index, other in enumerate(extra):
            same = sum(_same(row[c], other[c]) for c in columns)
            alike = _same(row[columns[0]], other[columns[0]]) or 2 * same >= len(columns)
            if alike and same > score:
                best, score = index, same
        if best is None:
            diff.missing.append(row)
        else:
            diff.differs.append((row, extra.pop(best)))
    diff.extra = extra
    return diff


def _key(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(_frozen(row[c]) for c in columns)


def _frozen(value: Any) -> Any:
    """A hashable form of a value (structs, maps and lists included)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _same(a: Any, b: Any) -> bool:
    return _frozen(a) == _frozen(b)


def _row(row: dict[str, Any], columns: list[str]) -> str:
    return ", ".join(f"{c}={shown(row[c])}" for c in columns)


def shown(value: Any) -> str:
    """A value as a diff shows it: NULL, strings quoted, the rest as Python prints it."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)
