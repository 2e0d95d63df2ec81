"""Audiences on a score field (``runner audience create``, ``Connection.create_audience``).

On a target on Platform (Data Distiller) an audience is a segment definition on
``_<tenant>.<field>`` (``runner.platform.audiences``): made once, then found by name; with
``run`` a segment job evaluates it and reports how many profiles qualified; with ``flow`` it is
added to that destination dataflow, unless the label policy refuses the flow
(``runner.run.audience_policy``); with ``export`` it is added to the audience dataflow to the
destination of that export of project.yml, made the first time (``destinations.AudienceFlow``),
and judged by that export's policy. The tenant comes from the Schema Registry's ``/stats``, as
``ingest_scores`` gets it.

Off Platform (DuckDB, no credentials) there are no profiles: the audience is the set of
identities of the local scores dataset ``dataset`` whose ``field`` is in range, written as the
local table ``audience_<name>`` (the identity column: the dataset's first column, where
``ingest_scores`` puts it), rebuilt on each call; its row count is the count.

:func:`estimate_audience` makes nothing: on Platform a preview's estimate (§4.3), locally the
exact count of those identities out of the dataset's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from runner.errors import ProjectError
from runner.platform import audiences as platform_audiences
from runner.platform.audiences import (ActivationRun, FileExport, activate_now,
                                       add_to_dataflow, audience_pql, ensure_audience,
                                       run_segment_job)
from runner.platform.schemas import tenant_id
from runner.run import datasets
from destinations import AudienceFlow, ExportSpec
from runner.run.audience_policy import FlowVerdict, dataset_labels, judge_export, judge_flow
from runner.run.exports import export_context
from runner.validation import did_you_mean

if TYPE_CHECKING:
    from runner.run.session import Workspace

LOCAL_PREFIX = "audience_"


@dataclass(frozen=True)
class AudienceResult:
    """What one ``create_audience`` did: the audience (segment id on Platform, the local
    table's name locally), its PQL (locally the same condition with tenant ``local``),
    whether it was created or found, the profiles counted (None without ``run`` on Platform),
    and the dataflow: None when none was given, else patched or not, the export of project.yml
    it belongs to (``exports[0]``; None: none), ``refused``, why the label policy kept the
    audience out of it (nothing was sent to the flow then), ``flow_created``, whether this
    call made the export's audience dataflow, and ``activation``, the ad hoc run that exported
    it now (None without ``activate``)."""

    name: str
    target: str
    pql: str
    created: bool
    segment_id: str | None = None
    table: str | None = None
    profiles: int | None = None
    flow: str | None = None
    flow_patched: bool | None = None
    export: str | None = None
    refused: str | None = None
    flow_created: bool = False
    activation: ActivationRun | None = None

    @property
    def ok(self) -> bool:
        """Nothing was refused."""
        return self.refused is None

    def summary(self) -> str:
        """One line: the audience, created or found, its count and the flow."""
        if self.refused is not None:
            where = f"dataflow {self.flow}" if self.flow else f"the dataflow of {self.export}"
            return f"audience {self.name}: {where} {self.refused}"
        what = f"segment {self.segment_id}" if self.segment_id else f"table {self.table}"
        line = (f"Audience {self.name} ({what}) {'created' if self.created else 'found'} on "
                f"target '{self.target}': {self.pql}")
        if self.profiles is not None:
            line += f"; {self.profiles:,} profile(s)"
        if self.flow is not None:
            made = "new " if self.flow_created else ""
            line += (f"; added to {made}dataflow {self.flow}" if self.flow_patched
                     else f"; already in dataflow {self.flow}")
            line += f" ({self.export})" if self.export else " (no export of project.yml: " \
                "only the C12 rule was checked)"
        if self.activation is not None:
            line += (f"; exported {self.activation.records} profile(s) in "
                     f"{self.activation.files} file(s) now (run {self.activation.run_id})")
        return line


@dataclass(frozen=True)
class EstimateResult:
    """What ``estimate_audience`` found: the PQL, the profiles it selects out of ``total``
    (on Platform a preview's estimate with its standard error, locally exact)."""

    target: str
    pql: str
    profiles: int
    total: int
    standard_error: float = 0.0
    confidence: str = ""

    ok = True

    def summary(self) -> str:
        """One line: the rule and how many it selects."""
        line = (f"Estimate on target '{self.target}': {self.pql} selects "
                f"{'about ' if self.standard_error else ''}{self.profiles:,} of {self.total:,} "
                "profile(s)")
        if self.standard_error:
            line += f" (standard error {self.standard_error:g}, {self.confidence} confidence)"
        elif self.confidence:
            line += " (every profile read: exact)"
        return line


def estimate_audience(workspace: Workspace, field: str, minimum: float | None = None,
                      maximum: float | None = None, *,
                      dataset: str | None = None) -> EstimateResult:
    """How many profiles ``minimum <= field <= maximum`` selects, making nothing.

    Raises:
        ProjectError: a bad bound or field; locally a missing or bad ``dataset``.
        PlatformError: a call failed or the preview failed.
    """
    client = workspace.adapter.platform
    audience_pql(field, minimum, maximum, tenant="t", subject="estimate")  # before any call
    if client is None:
        if dataset is None:
            raise ProjectError(f"estimate on {field}: on target '{workspace.target}' (off "
                               "Platform) give the scores dataset to count (dataset=, --dataset)")
        pql = audience_pql(field, minimum, maximum, tenant="local")
        members, total = _members(workspace, f"estimate on {field}", field, minimum, maximum,
                                  dataset)
        return EstimateResult(workspace.target, pql, members.num_rows, total)
    pql = audience_pql(field, minimum, maximum, tenant=tenant_id(client))
    config = workspace.adapter.config
    found = platform_audiences.estimate_audience(
        client, pql, timeout=getattr(config, "query_timeout", 600.0),
        poll_interval=getattr(config, "poll_interval", 5.0))
    return EstimateResult(workspace.target, pql, found.profiles, found.total,
                          found.standard_error, found.confidence)


def create_audience(workspace: Workspace, name: str, field: str, minimum: float | None = None,
                    maximum: float | None = None, *, run: bool = False, flow: str | None = None,
                    export: str | None = None, dataset: str | None = None,
                    activate: bool = False) -> AudienceResult:
    """Make the audience ``name`` of profiles with ``minimum <= field <= maximum``.

    Args:
        workspace: the project and its target.
        name: the audience's name (a segment definition's; locally letters, digits, ``_``).
        field: the score field (under ``_<tenant>`` on Platform; locally a column of ``dataset``).
        minimum, maximum: inclusive bounds; at least one.
        run: evaluate it now (a segment job) and report the count (always counted locally).
        flow: a destination dataflow id to add it to (Platform only).
        export: an export of project.yml (its ``name``) to whose destination it is activated,
            through the audience dataflow made for that export (Platform only; not with flow).
        dataset: the scores dataset: required locally and with ``flow`` or ``export`` (its
            labels are judged), else unused on Platform.
        activate: export it through the dataflow now (an ad hoc activation) and wait for the
            run (needs ``flow`` or ``export``).

    Raises:
        ProjectError: a bad bound, field, name, dataset or export; a definition named ``name``
            with another PQL; ``flow`` or ``export`` locally, or both.
        PlatformError: a call failed.
    """
    client = workspace.adapter.platform
    if flow is not None and export is not None:
        raise ProjectError(f"audience {name}: give a dataflow (flow=, --flow) or an export "
                           "(export=, --export), not both")
    if activate and flow is None and export is None:
        raise ProjectError(f"audience {name}: activate=True (--activate-now) exports through a "
                           "dataflow: give flow= (--flow) or export= (--export)")
    if client is None:
        return _local(workspace, name, field, minimum, maximum, flow or export, dataset)
    audience_pql(field, minimum, maximum, tenant="t")  # checked before anything is sent
    spec = _export_spec(workspace, name, export) if export is not None else None
    if (flow or export) is not None and dataset is None:
        given = f"flow={flow!r}" if flow is not None else f"export={export!r}"
        raise ProjectError(f"audience {name}: {given} needs the scores dataset the field "
                           "comes from (dataset=, --dataset), whose labels the dataflow's "
                           "destination must accept")
    # a dataflow is judged first: one its destination refuses leaves nothing made
    verdict: FlowVerdict | None = None
    if dataset is not None and flow is not None:
        verdict = judge_flow(workspace, client, flow, dataset_labels(client, dataset))
    elif dataset is not None and spec is not None:
        verdict = judge_export(spec, dataset_labels(client, dataset))
    keypath = verdict.export.keypath if verdict is not None and verdict.export else None
    tenant = tenant_id(client)
    if verdict is not None and verdict.refused is not None:
        return AudienceResult(name, workspace.target,
                              audience_pql(field, minimum, maximum, tenant=tenant), False,
                              flow=flow, export=keypath, refused=verdict.refused)
    audience = ensure_audience(client, name, field, minimum, maximum, tenant=tenant)
    result = AudienceResult(name, workspace.target, audience.pql, audience.created, audience.id)
    if run:
        config = workspace.adapter.config  # the target's polling, as its queries are polled
        result = replace(result, profiles=run_segment_job(
            client, audience.id, timeout=getattr(config, "query_timeout", 3600.0),
            poll_interval=getattr(config, "poll_interval", 60.0)))
    if verdict is None:
        return result
    created = False
    if spec is not None:
        made = AudienceFlow(spec, export_context(workspace, lambda line: None)).ensure()
        flow, created = made.id, made.created
    assert flow is not None
    selector = FileExport(start_date=dt.datetime.now(dt.timezone.utc).date().isoformat())
    patched = add_to_dataflow(client, flow, audience.id, name=name, file_export=selector)
    result = replace(result, flow=flow, export=keypath, flow_patched=patched,
                     flow_created=created)
    if activate:
        config = workspace.adapter.config
        result = replace(result, activation=activate_now(
            client, flow, audience.id, timeout=getattr(config, "query_timeout", 3600.0),
            poll_interval=getattr(config, "poll_interval", 60.0)))
    return result


def _export_spec(workspace: Workspace, name: str, export: str) -> ExportSpec:
    """The Flow Service export of project.yml named ``export`` (``<model>:<name>`` when two
    models' exports share the name), declared for this target."""
    specs = workspace.exports
    matching = [s for s in specs if export in (s.name, f"{s.model}:{s.name}")]
    if not matching:
        names = sorted({s.name for s in specs})
        raise ProjectError(f"audience {name}: project.yml has no export named '{export}'"
                           f"{did_you_mean(export, names)} (exports: "
                           f"{', '.join(names) or 'none'})")
    if len(matching) > 1:
        raise ProjectError(f"audience {name}: {len(matching)} exports are named '{export}'; "
                           "give one as <model>:<name> ("
                           f"{', '.join(f'{s.model}:{s.name}' for s in matching)})")
    spec = matching[0]
    if spec.is_local:
        raise ProjectError(f"audience {name}: export '{export}' ({spec.keypath}) writes local "
                           "files; an audience needs a Flow Service destination")
    if spec.targets is not None and workspace.target not in spec.targets:
        raise ProjectError(f"audience {name}: export '{export}' ({spec.keypath}) is declared "
                           f"for target(s) {', '.join(spec.targets)}, not '{workspace.target}'")
    return spec


def _local(workspace: Workspace, name: str, field: str, minimum: float | None,
           maximum: float | None, flow: str | None, dataset: str | None) -> AudienceResult:
    """The audience as the local table ``audience_<name>`` (see the module docstring);
    ``flow`` is the dataflow id or export name given, refused off Platform."""
    if dataset is None:
        raise ProjectError(f"audience {name}: on target '{workspace.target}' (off Platform) "
                           "give the scores dataset whose identities it selects (dataset=, "
                           "--dataset)")
    if flow is not None:
        raise ProjectError(f"audience {name}: dataflow or export {flow!r} needs a target on "
                           f"Platform; target '{workspace.target}' has no dataflows")
    table_name = LOCAL_PREFIX + datasets.check_name(name)
    pql = audience_pql(field, minimum, maximum, tenant="local")
    members, _ = _members(workspace, f"audience {name}", field, minimum, maximum, dataset)
    existed = workspace.adapter.exists(table_name)
    datasets.write(workspace, table_name, members, replace=existed)
    return AudienceResult(name, workspace.target, pql, not existed, table=table_name,
                          profiles=members.num_rows)


def _members(workspace: Workspace, what: str, field: str, minimum: float | None,
             maximum: float | None, dataset: str) -> tuple[pa.Table, int]:
    """The distinct identities of the local ``dataset`` whose ``field`` is in range, sorted,
    and how many distinct identities the dataset holds."""
    audience_pql(field, minimum, maximum, tenant="local")  # the bounds are checked first
    scores = datasets.read(workspace, dataset)
    have = scores.column_names
    if field not in have[1:]:
        raise ProjectError(f"{what}: '{field}' is not a score column of dataset "
                           f"'{dataset}'{did_you_mean(field, have[1:])} (identity: {have[0]}; "
                           f"scores: {', '.join(have[1:])})")
    values = scores.column(field)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise ProjectError(f"{what}: column '{field}' of dataset '{dataset}' is "
                           f"{values.type}, not a number")
    keep = pc.is_valid(values)
    if minimum is not None:
        keep = pc.and_(keep, pc.greater_equal(values, minimum))
    if maximum is not None:
        keep = pc.and_(keep, pc.less_equal(values, maximum))
    members = scores.filter(pc.fill_null(keep, False)).select([have[0]])
    members = pa.table({have[0]: pc.unique(members.column(0))}).sort_by(have[0])
    return members, pc.count_distinct(scores.column(0)).as_py()
