"""Data usage labels follow the data on Data Distiller: read the sources', write the models'.

On a target on Platform a table is a dataset, and its labels live with the dataset (contract
§7). :func:`platform_source_labels` reads what the sources' datasets carry, in the shape the
lineage step takes (``{"dataset": {...}, "fields": {column: {...}}}`` per source);
:func:`label_built` writes a model's derived labels (column -> labels) to the dataset its build
made, once the build succeeded, through the idempotent
:func:`~runner.platform.labels.apply_labels`. ``build`` calls it for every model when it is
given ``labels_for`` (model -> column -> labels); without one it sends no label call at all.

Derived labels are written per column, as field labels of the dataset's schema; none are
written at the dataset level (lineage is per column, and a dataset label means the same as
that label on every field, §7, so nothing is lost). A model rebuilt with no derived labels
makes a new dataset, which has none: nothing is sent. A model that is up to date (or appended
to) keeps its dataset, so its labels are read and corrected. A view is no dataset and gets
none. A failed label call makes the model an error (its new table stays and the pointer has
moved, as dbt keeps a relation whose grants failed): its descendants and exports are skipped
because an unlabelled copy of labelled data must not travel further; the next build finds it
up to date and applies the labels again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runner.adapters.base import Adapter
from runner.errors import RunError, RunnerError
from runner.platform.labels import apply_labels, read_labels
from runner.project.config import ProjectConfig
from runner.run.results import ModelResult

if TYPE_CHECKING:
    from runner.platform.client import PlatformClient

LabelsFor = Callable[[str], Mapping[str, frozenset[str]]]
SourceLabels = dict[str, Any]  # {"dataset": set[str], "fields": dict[str, set[str]]}


def platform_source_labels(adapter: Adapter, config: ProjectConfig, names: Iterable[str]
                           ) -> dict[str, SourceLabels]:
    """The labels of each named source's dataset on a target on Platform (else ``{}``).

    Args:
        adapter: the target's adapter (its Platform client and Catalog lookup).
        config: the project config (a source's table is its ``identifier``).
        names: the source names to read.

    Returns:
        ``{source: {"dataset": {label, ...}, "fields": {column: {label, ...}}}}``.

    Raises:
        RunError: a source has no single dataset in Catalog, or a label call failed.
    """
    client = adapter.platform
    if client is None:
        return {}
    tables = {config.sources[name].identifier: name for name in sorted(set(names))}
    ids = adapter.dataset_ids(sorted(tables))
    labels: dict[str, SourceLabels] = {}
    for table, name in tables.items():
        if table not in ids:
            raise RunError(f"source '{name}': Catalog has no single dataset whose query table is "
                           f"'{table}' on target '{adapter.name}', so its data usage labels "
                           "cannot be read; check sources."
                           f"{name}.identifier in project.yml")
        read = read_labels(client, ids[table])
        labels[name] = {"dataset": set(read.dataset),
                        "fields": {column: set(v) for column, v in read.fields.items()}}
    return labels


def apply_built_labels(client: PlatformClient, built: Mapping[str, str],
                       derived: Mapping[str, Mapping[str, frozenset[str]]]) -> dict[str, str]:
    """Apply each model's derived field labels to its dataset; what was done per model.

    Args:
        client: the Platform client (``adapter.platform``).
        built: model -> dataset id.
        derived: model -> column -> labels (a model it lacks gets none).

    Raises:
        PlatformError: a label call failed (models before it are labelled).
    """
    return {model: apply_labels(client, dataset_id, (), derived.get(model, {}))
            for model, dataset_id in built.items()}


def label_built(adapter: Adapter, result: ModelResult, labels_for: LabelsFor) -> ModelResult:
    """``result`` after writing ``labels_for(model)`` (column -> labels) to its dataset: with
    ``labels`` set when a call was sent, or an error if one failed (see the module docstring)."""
    client = adapter.platform
    if client is None or result.dataset_id is None or not result.ok:
        return result
    new_dataset = result.status == "success" and not (result.increment
                                                      and not result.increment["full"])
    try:
        wanted = {column: frozenset(v) for column, v in labels_for(result.name).items() if v}
        if new_dataset and not wanted:
            return result
        done = apply_labels(client, result.dataset_id, (), wanted)
    except Exception as err:  # noqa: BLE001 - reported on the model, never fatal
        reason = str(err) if isinstance(err, RunnerError) else f"{type(err).__name__}: {err}"
        result.status = "error"
        result.message = (f"{result.physical} is built and kept, but its data usage labels "
                          f"were not applied: {reason}; run the build again to apply them")
        return result
    result.labels = {"outcome": done, "dataset": [],
                     "fields": {column: sorted(v) for column, v in sorted(wanted.items())}}
    return result
