"""The bind check of ``runner compile``: the engine binds each model (``EXPLAIN``, nothing runs),
reporting what only it knows (a function it lacks, a missing column) before a build."""

from __future__ import annotations

from runner.errors import RunnerError
from runner.run.session import Session


def bind_check(session: Session) -> tuple[dict[str, str], list[str]]:
    """Bind each chosen model whose inputs already exist on an engine that can (``binds``).

    Returns the errors by model and the models not checked because a table they read is not
    built yet.
    """
    errors: dict[str, str] = {}
    unchecked: list[str] = []
    if not session.adapter.binds:
        return errors, unchecked
    existing = set(session.adapter.relations())
    for model in session.plan:
        if model.name not in session.plan.chosen or not model.built:
            continue
        if not model.reads <= existing:
            unchecked.append(model.name)
            continue
        try:
            session.adapter.fetch(f"EXPLAIN {model.select_sql}")
        except RunnerError as err:
            errors[model.name] = str(err)
    return errors, unchecked
