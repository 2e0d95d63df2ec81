"""Scores back into Platform: a table of per-profile scores written as a Profile dataset
(``runner scores ingest``, ``Connection.ingest_scores``).

On a target on Platform (Data Distiller) one call makes the dataset ready through the Schema
Registry and Catalog (``runner.platform.schemas.ensure_profile_dataset``: the identity and the
score columns as fields of ``_<tenant>``, their types from the data), shapes every row as XDM
(``xdm_row``) and writes the rows as one Batch Ingestion batch (``ingest_table``); a second
call finds the setup by name and appends a second batch, or with ``replace`` reverts every
earlier batch once the new one has succeeded (``replace_batches``: the dataset keeps only the
new scores, its id, schema and labels). Scores from a model are labelled like
the data they derive from: the union of the model's derived labels over the columns written is
applied to the dataset through the labels API (``runner.platform.labels``) before the batch,
only when there are labels, and each column's own derived labels to its field
(``/properties/_<tenant>/properties/<column>``, the Registry schema's path). Off Platform
(DuckDB) the same call
writes the rows as the local dataset of that name, or appends them to it (replaces it with
``replace``), with no credentials.
Everything that can be checked locally (the columns, their types, the identity) is checked
before anything is sent.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from runner.errors import ProjectError
from runner.platform.ingest import SUCCESS, BatchError, IngestResult, replace_batches
from runner.platform.labels import XED_FULL, apply_labels
from runner.platform.schemas import arrow_fields, ensure_profile_dataset, xdm_table
from runner.run import datasets
from runner.run.session import workspace_lineage
from runner.validation import did_you_mean

if TYPE_CHECKING:
    import pandas

    from runner.run.session import Workspace

Scores = Any  # a pandas DataFrame, a pyarrow Table, or a model's name


@dataclass(frozen=True)
class ScoresResult:
    """What one ingest of scores did: the batch (None locally), its status, the records
    written, the batch's failures, which setup steps it created or found, the data usage
    labels applied to the Platform dataset (a model's derived labels), and the earlier batches
    a replace reverted."""

    dataset: str
    target: str
    status: str
    records: int
    batch_id: str | None = None
    dataset_id: str | None = None
    failures: tuple[BatchError, ...] = ()
    created: tuple[str, ...] = ()
    found: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    reverted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """The rows were written."""
        return self.status in SUCCESS

    def summary(self) -> str:
        """One line: what was written where, and what setup was created or found."""
        where = f"dataset {self.dataset}" + (f" ({self.dataset_id})" if self.dataset_id else "")
        if not self.ok:
            return IngestResult(str(self.batch_id), self.status, self.records, 0,
                                self.failures).describe(self.dataset_id or self.dataset)
        batch = f" as batch {self.batch_id}" if self.batch_id else ""
        setup = "; ".join(f"{what}: {', '.join(steps)}" for what, steps in
                          (("created", self.created), ("found", self.found)) if steps)
        labels = f"; labels {', '.join(self.labels)}" if self.labels else ""
        reverted = (f"; replaced {len(self.reverted)} earlier batch(es): "
                    f"{', '.join(self.reverted)}" if self.reverted else "")
        return (f"Ingested {self.records:,} record(s) into {where} on target "
                f"'{self.target}'{batch}" + (f" ({setup})" if setup else "") + labels + reverted)


def _table(workspace: Workspace, data: Scores) -> pa.Table:
    """``data`` as an Arrow table; a model's name reads its built table."""
    if isinstance(data, str):
        models = workspace.project.models
        if data not in models:
            raise ProjectError(f"'{data}' is no model of the project{did_you_mean(data, models)}; "
                               "pass a model's name, a DataFrame or an Arrow table")
        return datasets.read(workspace, data)
    return datasets.as_arrow(data)


def _some(names: list[str], limit: int = 10) -> str:
    """The first ``limit`` of ``names``, then how many more (a wide model stays one short line)."""
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f", and {more} more" if more > 0 else "")


def _columns(table: pa.Table, identity: str, scores: list[str] | None) -> list[str]:
    """The identity and the score columns, checked against ``table``."""
    have = table.column_names
    if identity not in have:
        raise ProjectError(f"identity column '{identity}' is not a column of the scores"
                           f"{did_you_mean(identity, have)} (columns: {_some(have)})")
    picked = [c for c in have if c != identity] if scores is None else list(scores)
    missing = [c for c in picked if c not in have]
    if missing:
        raise ProjectError(f"score column(s) {', '.join(missing)} are not columns of the scores "
                           f"(columns: {_some(have)})")
    if identity in picked or len(set(picked)) != len(picked) or not picked:
        raise ProjectError(f"scores={picked!r}: name each score column once, not the identity "
                           f"'{identity}', and at least one")
    return [identity, *picked]


def _fields(table: pa.Table, identity: str) -> dict[str, str]:
    """Each column's Spark type, checked as a Profile field (the identity a string without
    nulls, a timestamp with a time zone)."""
    fields = arrow_fields(table)
    if fields[identity] != "string":
        raise ProjectError(f"identity column '{identity}' is {fields[identity]}; an identity "
                           "must be a string (cast it)")
    nulls = table.column(identity).null_count
    if nulls:
        raise ProjectError(f"identity column '{identity}' has {nulls} null value(s); every "
                           "profile record needs its identity")
    if table.num_rows == 0:
        raise ProjectError("the scores have no rows; there is nothing to ingest")
    return fields


def ingest_scores(workspace: Workspace, data: pandas.DataFrame | pa.Table | str, dataset: str,
                  identity: str, scores: list[str] | None = None,
                  namespace: str = "ECID", replace: bool = False) -> ScoresResult:
    """Write the scores in ``data`` as the Profile dataset ``dataset`` of the target.

    Args:
        workspace: the project and its target.
        data: a DataFrame, an Arrow table, or a model's name (its built table is read).
        dataset: the dataset's name (letters, digits, underscores).
        identity: the identity column (strings, no nulls).
        scores: the score columns (default: every other column).
        namespace: the identity namespace of the primary identity (Platform only).
        replace: keep only these scores: on Platform the earlier batches are reverted once this
            one succeeded (none when it failed), locally the dataset is replaced.

    Returns:
        The batch (None off Platform), its status, the records written, the batch's failures,
        and which setup steps were created and which found.

    Raises:
        ProjectError: a bad name, column, type or identity (nothing is sent).
        RunError: the target cannot write the rows, or something on Platform differs from
            what is asked (``ensure_profile_dataset``).
        PlatformError: a call failed.
    """
    datasets.check_name(dataset)
    table = _table(workspace, data)
    table = table.select(_columns(table, identity, scores))
    fields = _fields(table, identity)
    adapter, target = workspace.adapter, workspace.target
    client = adapter.platform
    if client is None:
        existed = adapter.exists(dataset)
        datasets.write(workspace, dataset, table, append=existed and not replace,
                       replace=existed and replace)
        return ScoresResult(dataset, target, "success", table.num_rows,
                            **{"found" if existed else "created": ("dataset",)})
    setup = ensure_profile_dataset(client, dataset, fields, identity, namespace)
    carried = column_labels(workspace, data, table.column_names) if isinstance(data, str) \
        else {}
    labels = tuple(sorted(set().union(*carried.values())))
    if labels:
        apply_labels(client, setup.dataset_id, labels,
                     {f"_{setup.tenant}.{c}": found for c, found in carried.items() if found},
                     {"id": setup.schema_id, "contentType": XED_FULL})
    batch = adapter.ingest(setup.dataset_id, xdm_table(table, setup.tenant), check=False)
    reverted = replace_batches(client, setup.dataset_id, batch.batch_id) \
        if replace and batch.ok else ()
    return ScoresResult(dataset, target, batch.status, batch.records, batch.batch_id,
                        setup.dataset_id, batch.errors, setup.created, setup.found, labels,
                        reverted)


def column_labels(workspace: Workspace, model: str, columns: list[str]
                  ) -> dict[str, frozenset[str]]:
    """The labels each of the model's ``columns`` carries (its derived labels, as the
    session's lineage makes them, the sources' Platform labels included)."""
    _, labels, _ = workspace_lineage(workspace, platform=True)
    carried = labels.get(model) or {}
    return {c: frozenset(carried.get(c, frozenset())) for c in columns}
