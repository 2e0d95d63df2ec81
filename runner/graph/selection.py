"""dbt's node selection grammar over the project DAG.

Each argument of ``--select``/``--exclude`` is split on spaces; the parts are unioned. Within a
part, commas intersect. An atom is ``[@][N+]selector[+[N]]`` where the selector is a model name
(glob patterns allowed), ``tag:x``, ``path:models/features`` (a folder or file),
``source:name`` (the models reading it, with ``+``), ``config.materialized:view``, or one that
compares with an earlier build (a ``History``): ``state:modified`` (new or changed since the
manifest given with ``--state``) and ``result:<status>`` (the models whose status in the last
run was ``error``, ``skipped``, ``success`` or ``no-op``). Those two may match nothing.

    >>> # select(["+training_set", "tag:daily,path:models/features"], [], graph)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Protocol

from runner.validation import did_you_mean, normalize_name
from runner.graph.dag import DAG, SOURCE_PREFIX
from runner.errors import ProjectError
from runner.project.model import Model

_ATOM = re.compile(r"^(?P<at>@)?(?:(?P<up>\d*)(?P<upplus>\+))?(?P<sel>[^+@]+?)"
                   r"(?:(?P<downplus>\+)(?P<down>\d*))?$")


class History(Protocol):
    """What the ``state:`` and ``result:`` methods compare with (``runner.run.history``)."""

    def modified(self) -> set[str]:
        """The models new or changed since the earlier build's manifest."""

    def with_status(self, status: str) -> set[str]:
        """The models whose status in the last run was ``status``."""


@dataclass(frozen=True)
class _Atom:
    selector: str
    at: bool
    up: int | None  # -1: not requested; None: unlimited
    down: int | None


def select(select_args: list[str] | None, exclude_args: list[str] | None, dag: DAG,
           models: dict[str, Model], history: History | None = None) -> set[str]:
    """The model names chosen by ``--select`` minus ``--exclude`` (all models when no select);
    ``history`` answers the ``state:`` and ``result:`` methods."""
    chosen = (set(models) if not select_args
              else _union(select_args, dag, models, "--select", history))
    if exclude_args:
        chosen -= _union(exclude_args, dag, models, "--exclude", history)
    return chosen


def _union(args: list[str], dag: DAG, models: dict[str, Model], flag: str,
           history: History | None) -> set[str]:
    result: set[str] = set()
    for arg in args:
        for part in arg.split():
            sets = [_atom_nodes(_parse_atom(atom, flag), dag, models, flag, history)
                    for atom in part.split(",") if atom]
            if sets:
                result |= set.intersection(*sets)
    return result


def _parse_atom(text: str, flag: str) -> _Atom:
    match = _ATOM.match(text.strip())
    if not match:
        raise ProjectError(f"{flag}: cannot read selector '{text}' (forms: name, +name, name+, "
                           "2+name, name+1, @name, tag:x, path:models/dir, source:x, "
                           "state:modified, result:error)")
    def depth(plus: str | None, digits: str | None) -> int | None:
        if not plus:
            return -1
        return int(digits) if digits else None

    return _Atom(
        selector=match.group("sel"),
        at=bool(match.group("at")),
        up=depth(match.group("upplus"), match.group("up")),
        down=depth(match.group("downplus"), match.group("down")),
    )


def _atom_nodes(atom: _Atom, dag: DAG, models: dict[str, Model], flag: str,
                history: History | None) -> set[str]:
    base = _match(atom.selector, dag, models, flag, history)
    nodes = set(base)
    for node in base:
        if atom.up != -1:
            nodes |= dag.upstream(node, atom.up)
        if atom.down != -1 or atom.at:
            nodes |= dag.downstream(node, atom.down if atom.down != -1 else None)
    if atom.at:
        for node in list(nodes):
            nodes |= dag.upstream(node)
    return {n for n in nodes if n in models}


def _match(selector: str, dag: DAG, models: dict[str, Model], flag: str,
           history: History | None) -> set[str]:
    method, _, value = selector.partition(":")
    if not value:
        method, value = "name", selector
    method = method.lower()
    if method in ("state", "result"):
        return _recorded(method, value, models, flag, history)
    if method == "name":
        pattern = normalize_name(value)
        found = {n for n in models if fnmatch.fnmatchcase(n, pattern)}
        hint = did_you_mean(pattern, models)
    elif method == "tag":
        found = {n for n, m in models.items() if value in m.config.tags}
        tags = {t for m in models.values() for t in m.config.tags}
        hint = did_you_mean(value, tags)
    elif method == "path":
        prefix = value.rstrip("/")
        found = {n for n, m in models.items()
                 if m.path == prefix or m.path.startswith(prefix + "/")
                 or fnmatch.fnmatchcase(m.path, prefix)}
        hint = ""
    elif method == "source":
        key = SOURCE_PREFIX + normalize_name(value)
        found = {key} if key in dag.nodes else set()
        hint = did_you_mean(normalize_name(value), [n[len(SOURCE_PREFIX):] for n in dag.nodes
                                                    if n.startswith(SOURCE_PREFIX)])
    elif method == "config.materialized":
        found = {n for n, m in models.items() if m.config.materialized == value}
        hint = ""
    else:
        raise ProjectError(f"{flag}: unknown selector method '{method}' (use tag:, path:, "
                           "source:, config.materialized:, state:, result: or a model name)")
    if not found:
        raise ProjectError(f"{flag}: '{selector}' matches no model{hint}")
    return found


RESULT_STATUSES = ("error", "skipped", "success", "no-op")


def _recorded(method: str, value: str, models: dict[str, Model], flag: str,
              history: History | None) -> set[str]:
    """``state:modified`` or ``result:<status>``: what ``history`` says (possibly nothing)."""
    if method == "state" and value != "modified":
        raise ProjectError(f"{flag}: unknown state selector 'state:{value}' (use "
                           "state:modified)")
    if method == "result" and value not in RESULT_STATUSES:
        raise ProjectError(f"{flag}: unknown result selector 'result:{value}' (use result: "
                           f"with one of {', '.join(RESULT_STATUSES)})")
    if history is None:
        raise ProjectError(f"{flag}: '{method}:{value}' needs the artifacts of an earlier build")
    found = history.modified() if method == "state" else history.with_status(value)
    return found & models.keys()
