"""One policy for Spark's approximate aggregates on a local engine.

``percentile_approx`` / ``approx_percentile`` and ``approx_count_distinct`` return estimates
from Spark's own sketches (Greenwald-Khanna, HyperLogLog++), which no other engine repeats. By
default (``approximate: exact``) the local engine computes the exact value instead and says so
in a ``Note`` at the call, so a difference from Data Distiller on large data is expected and
visible; ``approximate: refuse`` refuses them at compile time. Arguments Spark itself rejects
(a non-literal or out-of-range accuracy) are refused under either policy.

    >>> import sqlglot
    >>> notes = []
    >>> q = sqlglot.parse_one("SELECT approx_count_distinct(u) FROM t", read="spark")
    >>> _ = check_approximate(q, "exact", notes)
    >>> notes[0].line, notes[0].message.split(";")[0]
    (1, '`approx_count_distinct` is computed exactly on the local engine')
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from runner.compile.dialect.rules import refuse

POLICIES = ("exact", "refuse")
INLINED = "inlined"  # meta key of a CTE body inlined from a model that carries its own notes


@dataclass(frozen=True)
class Note:
    """Something a user should know about how a construct runs locally, at its place."""

    line: int | None
    col: int | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "col": self.col, "message": self.message}


_ESTIMATES = {
    exp.ApproxQuantile: ("percentile_approx", "Spark's value is the Greenwald-Khanna estimate, "
                         "within n / accuracy ranks of the exact one (exact for small groups); "
                         "accuracy only tunes that sketch"),
    exp.ApproxDistinct: ("approx_count_distinct", "Spark's value is a HyperLogLog++ estimate "
                         "(relative error rsd, default 0.05; exact for small counts)"),
}


def check_approximate(query: exp.Expression, policy: str, notes: list[Note]) -> exp.Expression:
    """Note (``exact``) or refuse (``refuse``) each approximate aggregate in ``query``.

    Calls inside a CTE body marked ``meta["inlined"]`` are skipped: the model they come from
    is noted where it is defined.

    Raises:
        ProjectError: ``policy`` is ``refuse``, or an argument Spark rejects.
    """
    for node in query.walk():
        if type(node) not in _ESTIMATES or _inlined(node):
            continue
        name, why = _ESTIMATES[type(node)]
        _check_accuracy(node, name)
        if policy == "refuse":
            raise refuse(node, f"`{name}` is an estimate the local engine does not reproduce "
                               "(approximate: refuse in project.yml); compute it exactly "
                               "(percentile, count(DISTINCT x)) or set approximate: exact")
        line, col = _start(node)
        notes.append(Note(line, col, f"`{name}` is computed exactly on the local engine; {why}"))
    return query


def _check_accuracy(node: exp.Expression, name: str) -> None:
    """Spark wants a literal accuracy: a whole number in (0, 2^31 - 1] for percentile_approx,
    a relative standard deviation of at most 0.39 for approx_count_distinct."""
    accuracy = node.args.get("accuracy")
    if accuracy is None:
        return
    value = float(accuracy.name) if isinstance(accuracy, exp.Literal) \
        and not accuracy.is_string else None
    if isinstance(node, exp.ApproxQuantile):
        valid = value is not None and accuracy.is_int and 0 < value <= 2**31 - 1
        expected = "a literal whole number between 1 and 2147483647"
    else:
        valid = value is not None and 0 < value <= 0.39
        expected = "a literal relative standard deviation above 0 and at most 0.39"
    if not valid:
        raise refuse(node, f"`{name}` accuracy must be {expected} (Spark rejects "
                           f"{accuracy.sql('spark')})")


def _inlined(node: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.meta.get(INLINED):
            return True
        parent = parent.parent
    return False


def _start(node: exp.Expression) -> tuple[int | None, int | None]:
    """Where the call's first located token starts (its name where sqlglot recorded it, else
    its first argument); sqlglot records each token's line and *last* column."""
    keys = {"line", "col", "start", "end"}
    located = [inner.meta for inner in node.walk() if keys <= inner.meta.keys()]
    if not located:
        return None, None
    first = min(located, key=lambda meta: meta["start"])
    return first["line"], first["col"] - (first["end"] - first["start"])
