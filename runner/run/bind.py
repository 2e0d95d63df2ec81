"""The bind check of ``runner compile``: the engine binds each model (``Adapter.bind_sql``:
``EXPLAIN``, or the engine's cheaper equivalent; nothing runs), reporting what only it knows (a
function it lacks, a missing column) before a build, at the place in the model's file the
engine's message names (``located``, also used by ``build``).
A model that bound once is not bound again while its compile key is the same (the relations it
reads are versions named by fingerprint, and sources whose column types the key covers)."""

from __future__ import annotations

from runner.compile.locate import engine_error_position
from runner.errors import RunnerError
from runner.project.cache import Cache
from runner.run.session import Session


def located(session: Session, name: str, message: str) -> str | None:
    """``path:line:col: message`` for an engine error of model ``name``, the line and column
    those of the column or function the message names; None when it names none in the model."""
    model = session.project.models[name]
    where = engine_error_position(message, session.project.queries[name], model.text)
    return f"{model.path}:{where[0]}:{where[1]}: {message}" if where else None


def bind_check(session: Session) -> tuple[dict[str, str], list[str]]:
    """Bind each chosen model whose inputs already exist on an engine that can (``binds``).

    Returns the errors by model (each ``path:line:col: message``) and the models not checked
    because a table they read is not built yet.
    """
    errors: dict[str, str] = {}
    unchecked: list[str] = []
    if not session.adapter.binds:
        return errors, unchecked
    existing = set(session.adapter.relations())
    bound = Cache(session.paths.cache)
    for model in session.plan:
        if model.name not in session.plan.chosen or not model.built:
            continue
        if not model.reads <= existing:
            unchecked.append(model.name)
            continue
        # what it reads is fixed by its compile key (versions by fingerprint, sources' types)
        key = Cache.key("bind", session.adapter.type, session.target, model.compile_key,
                        model.select_sql)
        if bound.get(key) is not None:
            continue
        try:
            session.adapter.fetch(session.adapter.bind_sql(model.select_sql))
        except RunnerError as err:
            errors[model.name] = (located(session, model.name, str(err))
                                  or f"{model.path}: {err}")
        else:
            bound.put(key, True)
    return errors, unchecked
