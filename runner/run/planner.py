"""``plan``: what a build would run and why, with nothing run (``runner plan``, ``runner build
--dry-run``).

The selection is compiled as a build compiles it, except that local sources are read as they
are, never created; the target is only asked which relations exist (and an incremental
model's table its watermark). A model whose version exists is up to date, except an incremental
one whose inputs' data versions are unknown or not those of its last append (``incremental:
append since <watermark>``); any other would run, for the reasons its fingerprint's components
give against what the target's state recorded for its current version
(``runner.run.changes``)::

    >>> result = plan(".", BuildOptions(select=["+training_set"]))   # doctest: +SKIP
    >>> print("\\n".join(result.lines()))
    stg_events: up to date
    user_recency: SQL changed; est. 0.42s
    training_set: upstream changed (user_recency); est. 1.10s
    Would run 2 of 3 model(s) on target 'local' (est. 1.52s); nothing was run.

The estimate is how long the model's last successful build on the target took (recorded in the
state with the same timing ``run_results.json`` reports), ``unknown`` for a model never built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner.run.changes import Inputs, differences, inputs_of
from runner.run.materialize import watermark
from runner.run.options import BuildOptions
from runner.run.progress import Echo
from runner.run.session import Session, compile_session, open_workspace

UP_TO_DATE = "up to date"
NEW = "new (never built on this target)"
FORCED = "forced (--full-refresh)"


@dataclass
class PlannedModel:
    """One selected model in a plan.

    Attributes:
        physical: the version a build would point it at.
        reasons: why it would run, empty when it is up to date.
        estimate: seconds its last successful build on the target took (None: unknown).
        note: for an up-to-date model whose pointer is elsewhere, that a build moves it back.
    """

    name: str
    path: str
    materialized: str
    physical: str
    reasons: list[str] = field(default_factory=list)
    estimate: float | None = None
    note: str = ""

    @property
    def runs(self) -> bool:
        return bool(self.reasons)

    def line(self) -> str:
        if not self.runs:
            return f"{self.name}: {UP_TO_DATE}{self.note}"
        took = "unknown" if self.estimate is None else f"{self.estimate:.2f}s"
        return f"{self.name}: {', '.join(self.reasons)}; est. {took}"


@dataclass
class PlanResult:
    """What ``plan`` found; nothing ran, so ``exit_code`` is 0."""

    target: str
    models: list[PlannedModel] = field(default_factory=list)
    exit_code: int = 0

    @property
    def to_run(self) -> list[PlannedModel]:
        return [m for m in self.models if m.runs]

    def by_name(self) -> dict[str, PlannedModel]:
        return {m.name: m for m in self.models}

    def lines(self) -> list[str]:
        """One line per model in build order, then the summary."""
        runs = self.to_run
        if not runs:
            return [*(m.line() for m in self.models),
                    f"Nothing to do on target '{self.target}': every selected model is up to "
                    "date."]
        known = sum(m.estimate for m in runs if m.estimate is not None)
        unknown = sum(m.estimate is None for m in runs)
        estimate = (f"{known:.2f}s" if not unknown else "unknown" if unknown == len(runs)
                    else f"{known:.2f}s + {unknown} unknown")
        return [*(m.line() for m in self.models),
                f"Would run {len(runs)} of {len(self.models)} model(s) on target "
                f"'{self.target}' (est. {estimate}); nothing was run."]


def plan(root: str | Path, options: BuildOptions | None = None, echo: Echo = print
         ) -> PlanResult:
    """What ``build(root, options)`` would run and why; nothing is created on the target.

    Raises:
        ProjectError: the project or the options are wrong.
        RunError: the target cannot be reached.
    """
    options = options or BuildOptions()
    session = compile_session(open_workspace(root, options, echo), options, echo,
                              prepare_sources=False)
    with session.adapter:
        existing = session.adapter.relations()
        return PlanResult(session.target, [_planned(session, name, existing, options.full_refresh)
                                           for name in session.plan.selected])


def _planned(session: Session, name: str, existing: dict[str, str], forced: bool
             ) -> PlannedModel:
    compiled, state = session.plan[name], session.state.get(name)
    assert compiled.physical is not None
    planned = PlannedModel(name, compiled.path, compiled.materialized, compiled.physical,
                           estimate=state.seconds)
    if compiled.physical.lower() in existing:
        if compiled.incremental is not None and (compiled.data_version is None
                                                 or state.data_version != compiled.data_version
                                                 or state.current != compiled.physical):
            since, _ = watermark(session.adapter, compiled)
            lookback = compiled.incremental.lookback
            planned.reasons = [f"incremental: append since {since}"
                               + (f" less {lookback} s of lookback" if lookback else "")]
            return planned
        if state.current != compiled.physical:
            planned.note = f" (its pointer moves back to {compiled.physical})"
        return planned
    if forced:
        planned.reasons = [FORCED]
    elif state.current is None:
        planned.reasons = [NEW]
    else:
        recorded = Inputs.from_dict(state.inputs)
        if recorded is None or recorded.fingerprint != state.fingerprint:
            planned.reasons = ["changed (the state has no record of what its current version "
                               "was built from)"]
        else:
            current = inputs_of(session.project, session.plan, name,
                                session.state.generations(), session.source_versions)
            planned.reasons = differences(recorded, current) or [
                f"missing on the target (its version {compiled.physical} was dropped)"]
    return planned
