"""Spark -> PostgreSQL: refuse the constructs known to give other values on PostgreSQL.

PostgreSQL is a secondary local engine. sqlglot's translation is kept; what this module knows
to differ from Data Distiller and has no rewrite for is refused with a ``ProjectError``. Casts
to an integer type of an operand whose type is unknown are let through (PostgreSQL rounds a
fraction where Spark truncates): pass ``schema`` to ``to_target`` to have them checked.
"""

from __future__ import annotations

from sqlglot import exp

from runner.dialect import INT_PRECISION, Rule, kind, refuse


def _refused(what: str, instead: str) -> Rule:
    def rule(node: exp.Expression) -> exp.Expression:
        raise refuse(node, f"`{what}` gives other values on PostgreSQL than on Data Distiller "
                           f"and is not supported there; {instead}")
    return rule


def integral_cast(node: exp.Cast) -> exp.Expression:
    """PostgreSQL rounds 3.7 to 4 when casting to an integer; Spark truncates to 3."""
    if node.to.is_type(*INT_PRECISION) and kind(node.this) in ("float", "decimal"):
        raise refuse(node, "casting a fractional number to an integer rounds on PostgreSQL "
                           "(Spark truncates); write CAST(trunc(x) AS INT)")
    return node


def anonymous(node: exp.Anonymous) -> exp.Expression:
    """Adobe-defined functions exist only on Data Distiller (and the duckdb target)."""
    if node.name.upper().startswith("TIME_BETWEEN_"):
        raise refuse(node, f"`{node.name.lower()}` is an Adobe-defined function with no "
                           "PostgreSQL translation; use the duckdb target")
    return node


RULES: dict[type, Rule] = {
    exp.MonthsBetween: _refused("months_between", "use the duckdb target"),
    exp.DayOfWeek: _refused("dayofweek", "use extract(dow from d) + 1"),
    exp.ArraySize: _refused("size", "use cardinality() and handle NULL"),
    exp.Substring: _refused("substring", "use the duckdb target"),
    exp.IntDiv: _refused("div", "use trunc() of a division"),
    exp.Cast: integral_cast, exp.TryCast: integral_cast,
    exp.Anonymous: anonymous,
}
