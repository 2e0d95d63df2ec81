"""Datasets: the target's tables listed, described, read, written and dropped, one interface on
every engine (``runner datasets``, ``Connection.datasets/dataset/read/write/drop``).

A dataset is named as a notebook reads it: a built model by the model's name (the table of its
current version underneath, whose id and rows it has), a source by the source's name, any other
table (one written here, or by ``query(..., into=)``) by its own. The versions of models and
their pointer views are never listed, written or dropped under their own names. The engine's
part is the adapter's (``Adapter.datasets``, ``describe_dataset``, ``read_dataset``,
``write_dataset``, ``drop_dataset``); this module only names, checks and routes.

Labels: on a target off Platform the tables carry none of their own, so a model's are those
its last build derived (``target/manifest.json``) and a source's those project.yml declares; on
Platform they are the dataset's own, read by ``describe`` (a listing does not read them).

    >>> check_name("scores_v2")
    'scores_v2'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.adapters.base import DatasetInfo
from runner.errors import ProjectError
from runner.sources.prepare import VERSIONS_TABLE
from runner.validation import did_you_mean

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from runner.run.session import Workspace

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
FILE_SUFFIXES = (".parquet", ".csv")


@dataclass
class _Names:
    """How the target's tables map to dataset names."""

    models: dict[str, str] = field(default_factory=dict)   # current version -> model
    sources: dict[str, str] = field(default_factory=dict)  # identifier -> source
    reserved: dict[str, str] = field(default_factory=dict)  # pointer or version -> model


def _names(workspace: Workspace) -> _Names:
    project, state, names = workspace.project, workspace.state(), _Names()
    for model in project.models:
        entry = state.get(model)
        names.reserved[model.lower()] = model
        for physical in [*entry.history, *entry.pending]:
            names.reserved[physical.lower()] = model
        if entry.current:
            names.models[entry.current.lower()] = model
    for name, source in project.config.sources.items():
        names.sources[source.identifier.lower()] = name
    return names


def _internal(table: str) -> bool:
    """A table the runner keeps for itself (source versions, scratch tables)."""
    return table == VERSIONS_TABLE.lower() or table.startswith("__runner")


def check_name(name: str) -> str:
    """``name`` if it is a plain table name, else ProjectError saying what one is."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProjectError(f"{name!r} is not a dataset name; use letters, digits and "
                           "underscores, starting with a letter")
    return name


def list_datasets(workspace: Workspace) -> list[DatasetInfo]:
    """The target's datasets by name (models, sources, then other tables, each sorted)."""
    names, adapter = _names(workspace), workspace.adapter
    labels = _project_labels(workspace) if adapter.platform is None else {}
    found: list[DatasetInfo] = []
    for info in adapter.datasets():
        table = info.table.lower()
        if table in names.models:
            model = names.models[table]
            found.append(replace(info, name=model, kind="model",
                                 labels=labels.get(model, info.labels)))
        elif table in names.sources:
            source = names.sources[table]
            found.append(replace(info, name=source, kind="source",
                                 labels=labels.get(source, info.labels)))
        elif table not in names.reserved and not _internal(table):
            found.append(info)
    order = {"model": 0, "source": 1}
    return sorted(found, key=lambda d: (order.get(d.kind, 2), d.name.lower()))


def find_dataset(workspace: Workspace, name: str) -> DatasetInfo:
    """The listed dataset ``name`` (case-insensitive).

    Raises:
        ProjectError: there is none on the target (naming the closest one).
    """
    listed = list_datasets(workspace)
    for info in listed:
        if info.name.lower() == name.lower():
            return info
    raise ProjectError(f"no dataset '{name}' on target '{workspace.target}'"
                       f"{did_you_mean(name, [d.name for d in listed])}; runner datasets ls "
                       "lists them")


def describe(workspace: Workspace, name: str) -> DatasetInfo:
    """The dataset ``name`` with its columns (Spark types) and exact row count (on Data
    Distiller a ``SELECT COUNT(*)`` over the PostgreSQL interface) and labels."""
    info = find_dataset(workspace, name)
    described = workspace.adapter.describe_dataset(info)
    return described if described.labels is not None or info.labels is None else replace(
        described, labels=info.labels)


def read(workspace: Workspace, name: str, columns: list[str] | None = None,
         limit: int | None = None) -> pyarrow.Table:
    """The dataset ``name`` as an Arrow table: ``columns`` only (in that order) and the first
    ``limit`` rows when given.

    Raises:
        ProjectError: no such dataset, or a bad ``limit``.
        RunError: the engine failed the read (a column that does not exist is named).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise ProjectError(f"limit={limit!r}: expected a whole number >= 0")
    table = _readable(workspace, name)
    return workspace.adapter.read_dataset(table, list(columns) if columns else None, limit)


def _readable(workspace: Workspace, name: str) -> str:
    """The relation a read of dataset ``name`` reads: a model's pointer, a source's table, or
    the table of that name."""
    project, adapter = workspace.project, workspace.adapter
    models = {m.lower(): m for m in project.models}
    if name.lower() in models:
        model = models[name.lower()]
        if not workspace.state().get(model).current:
            raise ProjectError(f"model '{model}' is not built on target '{workspace.target}'; "
                               f"run runner build --select {model}")
        return model
    sources = {s.lower(): src for s, src in project.config.sources.items()}
    if name.lower() in sources:
        return sources[name.lower()].identifier
    return find_dataset(workspace, check_name(name)).table


def write(workspace: Workspace, name: str, data: pandas.DataFrame | pyarrow.Table, *,
          replace: bool = False, append: bool = False) -> DatasetInfo:
    """Write ``data`` as the dataset ``name``: new, or with ``replace`` in place of the
    existing one, or with ``append`` added to it (columns matched by name).

    Returns:
        The dataset as written (columns and rows).

    Raises:
        ProjectError: a bad name, a name of a model or source, both flags, a dataset of that
            name without a flag (naming both), ``append`` to one that does not exist.
        RunError: the target does not write datasets (one line saying why), or the engine
            refused the data.
    """
    check_name(name)
    if replace and append:
        raise ProjectError("replace=True and append=True exclude each other; pick one")
    names, adapter, target = _names(workspace), workspace.adapter, workspace.target
    if name.lower() in names.reserved:
        raise ProjectError(f"'{name}' is a model of the project (or a version of one), which "
                           "runner build writes; pick another name for the dataset")
    if name.lower() in {*names.sources, *map(str.lower, workspace.project.config.sources)}:
        raise ProjectError(f"'{name}' is a source of the project (project.yml declares it); "
                           "pick another name for the dataset")
    if not adapter.writes_datasets:
        raise adapter.writes_refused()
    table = as_arrow(data)
    exists = adapter.exists(name)
    if exists and not (replace or append):
        raise ProjectError(f"dataset '{name}' exists on target '{target}'; pass replace=True to "
                           "replace it or append=True to add the rows to it (runner datasets "
                           "write --replace / --append)")
    if append and not exists:
        raise ProjectError(f"append=True: no dataset '{name}' on target '{target}' to append "
                           "to; write it without append=True first")
    mode = "append" if append else "replace" if exists else "create"
    adapter.write_dataset(name, table, mode)
    return adapter.describe_dataset(DatasetInfo(name=name, table=name))


def as_arrow(data: Any) -> pyarrow.Table:
    """``data``, a pandas DataFrame or an Arrow table, as an Arrow table (no index).

    Raises:
        ProjectError: ``data`` is neither.
    """
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    try:
        import pandas as pd
    except ImportError:  # pandas is the notebook extra's: without it nothing is a DataFrame
        pd = None
    if pd is None or not isinstance(data, pd.DataFrame):
        raise ProjectError(f"expected a pandas DataFrame or a pyarrow Table to write, got "
                           f"{type(data).__name__}")
    return pa.Table.from_pandas(data, preserve_index=False)


def drop(workspace: Workspace, name: str) -> DatasetInfo:
    """Drop the dataset ``name`` (not a model's or a source's); returns what it was.

    Raises:
        ProjectError: no such dataset, or it is a model or a source of the project.
    """
    info = find_dataset(workspace, name)
    if info.kind in ("model", "source"):
        how = ("remove the model and run runner clean" if info.kind == "model"
               else "it is declared in project.yml")
        raise ProjectError(f"'{info.name}' is a {info.kind} of the project; runner datasets "
                           f"drops only other datasets ({how})")
    workspace.adapter.drop_dataset(info.table, info.kind)
    return info


def table_from_file(path: Path) -> pyarrow.Table:
    """A Parquet or CSV file as an Arrow table (``runner datasets write``).

    Raises:
        ProjectError: another kind of file.
    """
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise ProjectError(f"{path}: expected a .parquet or .csv file")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.csv as pcsv

    return pcsv.read_csv(path)


def _project_labels(workspace: Workspace) -> dict[str, dict[str, frozenset[str]]]:
    """What the project says each model's and source's columns carry: a model's from the
    manifest its last build on this target wrote, a source's from project.yml (``""``: the
    whole dataset)."""
    project = workspace.project
    found: dict[str, dict[str, frozenset[str]]] = {}
    for name, source in project.config.sources.items():
        labels = {column: frozenset(v) for column, v in source.column_labels.items() if v}
        if source.labels:
            labels[""] = frozenset(source.labels)
        found[name] = labels
    try:
        nodes = json.loads(workspace.paths.manifest.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError):
        return found
    for node in nodes.values():
        runner_meta = (node.get("meta") or {}).get("runner") or {}
        if node.get("resource_type") == "model" and runner_meta.get("target") == workspace.target:
            found[node["name"]] = {c: frozenset(v) for c, v in
                                   (runner_meta.get("labels") or {}).items()}
    return found


def as_json(info: DatasetInfo) -> dict[str, Any]:
    """``info`` as plain JSON values (times ISO 8601 in UTC, labels sorted)."""
    return {"name": info.name, "kind": info.kind, "table": info.table, "id": info.id,
            "created": _iso(info.created), "updated": _iso(info.updated),
            "columns": info.columns, "rows": info.rows, "rows_exact": info.rows_exact,
            "labels": None if info.labels is None else {
                column: sorted(names) for column, names in sorted(info.labels.items())},
            "profile": info.profile}


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
