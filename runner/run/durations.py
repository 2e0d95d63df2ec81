"""How long each model of a build is expected to take: the weights of the scheduler's critical
path (``runner.run.scheduler``).

A model's estimate is what ``runner plan`` shows (``runner.run.planner``): the seconds its last
successful build on the target took, as the target's state records them. A model never built
there is estimated from its size, its SQL's length times the median seconds per character of
the models that have a past duration; when none has, its length over the median length (a
median-sized model weighs 1)::

    >>> estimates({"a": 100, "b": 200, "c": 300}, {"a": 2.0})
    {'a': 2.0, 'b': 4.0, 'c': 6.0}
    >>> estimates({"a": 100, "b": 200, "c": 300}, {})
    {'a': 0.5, 'b': 1.0, 'c': 1.5}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from statistics import median

from runner.compile.plan import Plan
from runner.run.state import TargetState


def estimates(sizes: Mapping[str, int], past: Mapping[str, float | None]) -> dict[str, float]:
    """Each model's estimated seconds: ``past`` when known, else scaled from ``sizes``.

    Args:
        sizes: each model's size (its SQL's length in characters).
        past: seconds of a model's last successful build; a model it lacks (or maps to None)
            has none.
    """
    known = {name: float(s) for name, s in past.items() if s is not None and name in sizes}
    rates = [known[name] / sizes[name] for name in known if sizes[name] > 0]
    if rates:
        rate = median(rates)
    else:
        middle = median(sizes.values()) if sizes else 0
        rate = 1.0 / middle if middle > 0 else 0.0
    return {name: known[name] if name in known else (size * rate if rate else 1.0)
            for name, size in sizes.items()}


def model_estimates(plan: Plan, state: TargetState, names: Iterable[str]) -> dict[str, float]:
    """The estimated seconds of the models ``names`` of ``plan`` on the target of ``state``."""
    names = list(names)
    return estimates({name: len(plan[name].select_sql) for name in names},
                     {name: state.get(name).seconds for name in names})
