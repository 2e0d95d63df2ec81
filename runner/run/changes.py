"""What a model's fingerprint is made of, recorded so a later command can say why it changed.

The compiler's fingerprint (``runner.compile.compiler``) hashes one rendered statement, which
cannot tell what changed. So each build records the fingerprint's components (``Inputs``) for
the version each model points at: in the target's state (``target/state/<target>.json``,
``models.<name>.inputs``: what ``runner plan`` compares with) and in the manifest (each
node's ``meta.runner.inputs``: what ``state:modified`` compares with)::

    {"fingerprint": "1a2b3c4d5e", "sql": "4f0c2a9e1b", "config": "77d0e3a1c2", "generation": 0,
     "data": {"raw_orders": "0b9e4d2f6a"}, "parents": {"stg_orders": "9f8e7d6c5b"}}

- ``sql``: the model's own query as loaded (macros and vars expanded, table names as written),
  hashed from its syntax tree without positions or comments: layout, comments and keyword case
  never change it;
- ``config``: the config items that change the table (``ModelConfig.fingerprint_items``);
- ``generation``: the refresh generation that ``--full-refresh`` increments;
- ``data``: a hash of the data version of each source it reads directly, where one is known,
  and of each incremental model it reads (what that model may have appended);
- ``parents``: the fingerprint of each model it reads directly (ephemeral ones included).

The fingerprint is a function of these and of how the runner translates SQL for the target (its
version, the sources' column types): when none of them differs, that translation changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


from runner.compile.plan import Plan
from runner.graph.dag import SOURCE_PREFIX
from runner.project.loader import Project
from runner.project.model import Model
from runner.project.parsing import query_hash

HASH_LENGTH = 10


@dataclass(frozen=True)
class Inputs:
    """The components of one model's fingerprint (see the module docstring)."""

    fingerprint: str
    sql: str
    config: str
    generation: int = 0
    data: dict[str, str] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: object) -> Inputs | None:
        """The inputs a state or manifest recorded; None when absent or unreadable (an older
        runner wrote it, or a hand edit)."""
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**raw)
        except TypeError:
            return None


def sql_hash(project: Project, name: str) -> str:
    """A hash of what model ``name``'s query computes (``runner.project.parsing.query_hash``,
    made when the model was loaded, or kept by the parse cache)."""
    return project.query_hashes.get(name) or query_hash(project.queries[name])


def config_hash(model: Model) -> str:
    """A hash of the config items that change the model's table."""
    return _hash(model.config.fingerprint_items())


def inputs_of(project: Project, plan: Plan, name: str, generations: dict[str, int],
              source_versions: dict[str, str]) -> Inputs:
    """The inputs of compiled model ``name`` (``generations`` and ``source_versions`` as the
    plan was compiled with)."""
    parents = project.dag.parents(name)
    inputs = Inputs(
        fingerprint=plan[name].fingerprint, sql=sql_hash(project, name),
        config=config_hash(project.models[name]), generation=generations.get(name, 0),
        data={s: _hash(source_versions[s]) for s in (p[len(SOURCE_PREFIX):] for p in parents
                                                     if p.startswith(SOURCE_PREFIX))
              if s in source_versions},
        parents={p: plan[p].fingerprint for p in parents if p in plan})
    incremental = {p: _hash(plan[p].data_version) for p in project.build_parents(name)
                   if p in plan and plan[p].data_version}
    if incremental:  # what an incremental parent may have appended (its inputs' data)
        inputs = replace(inputs, data={**inputs.data, **incremental})
    return inputs


def differences(recorded: Inputs, current: Inputs) -> list[str]:
    """Why ``current`` gives another version than ``recorded`` did, most specific first:
    ``forced (an earlier --full-refresh)``, ``SQL changed``, ``config changed``, ``data changed
    (<sources>)``, ``upstream changed (<parents>)``; or, when none of these differs, the
    translation (``compiled SQL changed ...``); empty when the fingerprint is the same."""
    if recorded.fingerprint == current.fingerprint:
        return []
    reasons = []
    if recorded.generation != current.generation:
        reasons.append("forced (an earlier --full-refresh)")
    if recorded.sql != current.sql:
        reasons.append("SQL changed")
    if recorded.config != current.config:
        reasons.append("config changed")
    data = _changed(recorded.data, current.data)
    if data:
        reasons.append(f"data changed ({', '.join(data)})")
    upstream = _changed(recorded.parents, current.parents)
    if upstream:
        reasons.append(f"upstream changed ({', '.join(upstream)})")
    return reasons or ["compiled SQL changed (a new runner version, or a source's column types)"]


def _changed(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The keys of ``new`` whose value is not the one ``old`` has (new keys included)."""
    return sorted(k for k, v in new.items() if old.get(k) != v)


def _hash(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]
