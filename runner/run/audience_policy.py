"""The label policy of an audience added to a destination dataflow.

An audience selects profiles by a score field of a scores dataset, so it carries that
dataset's labels as Platform holds them (the labels API: the dataset's labels and its fields',
united; ``ingest_scores`` applies a model's derived labels there). The rules are the export
policy's (``runner.run.label_policy.destination_refuses``): C12 is never activated, and a
dataflow the project made for an export of project.yml (named
``runner:<project>:<model>:<export>[@<vars>]`` by the exporter, or the audience dataflow
``runner:<project>:audiences:<model>:<export>[@<vars>]`` made for an export) refuses its
destination's ``refuse_labels``; an audience sent to an export by name is judged by that
export (:func:`judge_export`, no call). A dataflow no export names is related to nothing the
project declares, so only C12 is checked there, and the result says so [inferred: the
destination's own policy is Platform's to enforce]. C9 (no data science) is not applied: activating an audience is not
training on its data. The export policy has no rule of its own for C2 (no ad activation) at
third-party destinations, so neither has this one: a destination refuses C2 through its
``refuse_labels``. The dataflow is read once here and once more by ``add_to_dataflow``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from destinations import ExportSpec
from destinations.base import flow_base_name
from runner.errors import ProjectError
from runner.platform.audiences import FLOWS
from runner.platform.client import PlatformClient
from runner.platform.labels import read_labels
from runner.platform.schemas import DATASETS
from runner.project.labels import label_meaning
from runner.run.label_policy import destination_refuses

if TYPE_CHECKING:
    from runner.run.session import Workspace


class FlowVerdict(NamedTuple):
    """The export the dataflow belongs to (None: none of project.yml's) and the refusal line
    (None: the audience may be added)."""

    export: ExportSpec | None
    refused: str | None


def dataset_labels(client: PlatformClient, name: str) -> frozenset[str]:
    """Every label the Platform dataset ``name`` carries (on the dataset or a field).

    Raises:
        ProjectError: Catalog has no dataset ``name``.
        PlatformError: a call failed.
    """
    listed = client.get(DATASETS, params={"name": name, "properties": "name"}) or {}
    ids = [k for k, v in listed.items() if isinstance(v, dict) and v.get("name") == name]
    if not ids:
        raise ProjectError(f"no dataset '{name}' on Platform: give the scores dataset the "
                           "audience's field comes from (runner scores ingest makes it)")
    if len(ids) > 1:  # the labels of either could be the wrong ones
        raise ProjectError(f"{len(ids)} datasets on Platform are named '{name}' "
                           f"({', '.join(sorted(ids))}); rename all but one, or give another")
    labels = read_labels(client, ids[0])
    return labels.dataset.union(*labels.fields.values())


def flow_export(workspace: Workspace, flow_name: str) -> ExportSpec | None:
    """The export of project.yml whose dataflow is named ``flow_name``, if any."""
    project = workspace.project.config.name
    for spec in workspace.exports:
        for base in (flow_base_name(project, spec), flow_base_name(project, spec, audiences=True)):
            if flow_name == base or flow_name.startswith(base + "@"):
                return spec
    return None


def judge_export(spec: ExportSpec | None, carried: frozenset[str]) -> FlowVerdict:
    """Whether an audience carrying ``carried`` may go to the destination of ``spec`` (None:
    a dataflow no export names, where only C12 is checked)."""
    barred = sorted(carried & destination_refuses(spec))
    if not barred:
        return FlowVerdict(spec, None)
    labels = ", ".join(f"{label} ({label_meaning(label)})" for label in barred)
    which = (f"which the destination of {spec.keypath} ({spec.name}) refuses" if spec is not None
             else "which is never activated (the dataflow is no export of project.yml, so only "
                  "the C12 rule was checked)")
    return FlowVerdict(spec, f"refused by the label policy: the audience's data carries "
                             f"{labels}, {which}; nothing was changed")


def judge_flow(workspace: Workspace, client: PlatformClient, flow_id: str,
               carried: frozenset[str]) -> FlowVerdict:
    """Whether an audience carrying ``carried`` may be added to dataflow ``flow_id`` (one GET).

    Raises:
        PlatformError: the call failed.
    """
    body = client.get(f"{FLOWS}/{flow_id}") or {}
    flow = (body.get("items") or [{}])[0]
    return judge_export(flow_export(workspace, str(flow.get("name", ""))), carried)
