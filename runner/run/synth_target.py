"""The synthetic sources created on a Platform sandbox (``runner synth --target <data_distiller
target>``): what Adobe's first CMLE notebook does by hand, so the example builds on Data
Distiller from nothing.

For each generated source, through the same calls as ``runner scores ingest``
(``runner.platform.schemas.ensure_dataset``, ``runner.platform.ingest``): a tenant field group
``<dataset> fields`` with the ``_<tenant>`` fields (``userid``), a schema titled like the
dataset of the table's XDM class with the standard field groups its columns belong to
(``runner.sources.xdm``) and the tenant one, a dataset named like the source's table (Data
Distiller names the table after it), and one Parquet batch of the rows, nested XDM kept. Each
is found by name before it is made, so a second run creates nothing but a batch per dataset;
once every batch has succeeded the earlier ones are reverted (a dataset holds one generation of
rows, and all datasets the same one).
The sandbox named ``prod`` is refused unless forced: synthetic people do not belong in
production Profile data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from runner.errors import PlatformError, ProjectError, RunError
from runner.platform.client import PlatformClient
from runner.platform.ingest import IngestResult, replace_batches, revert_batch
from runner.platform.schemas import (datasets_named, ensure_dataset, find_schema, spark_type,
                                     tenant_id)
from runner.sources import synth
from runner.sources.prepare import check_generated
from runner.sources.xdm import layout

if TYPE_CHECKING:
    from runner.project.config import SourceConfig
    from runner.run.session import Workspace

PRODUCTION = "prod"


@dataclass(frozen=True)
class SourceLoad:
    """One source written to the sandbox: its dataset, what was created, the batch."""

    source: str
    dataset: str
    dataset_id: str
    batch_id: str
    records: int
    created: tuple[str, ...]
    reverted: tuple[str, ...]

    def line(self) -> str:
        """``source profiles: dataset profiles (id): created field group, schema, dataset;
        batch b1 success, 2,000 records``."""
        made = (f"created {', '.join(c.replace('fieldgroup', 'field group') for c in self.created)}"
                if self.created else "schema and dataset found")
        old = f"; {len(self.reverted)} earlier batch(es) reverted" if self.reverted else ""
        return (f"source {self.source}: dataset {self.dataset} ({self.dataset_id}): {made}; "
                f"batch {self.batch_id} success, {self.records:,} records{old}")


def check_sandbox(sandbox: str, force: bool) -> None:
    """Refuse the production sandbox unless ``force``.

    Raises:
        ProjectError: the sandbox is ``prod`` and ``force`` is not set.
    """
    if sandbox.strip().lower() == PRODUCTION and not force:
        raise ProjectError(f"runner synth would write synthetic profiles and events into the "
                           f"production sandbox '{sandbox}'; set the target's sandbox (or "
                           "AEP_SANDBOX) to a development sandbox, or pass --force")


def synth_to_platform(workspace: Workspace, sources: list[SourceConfig],
                      options: synth.SynthOptions, *, force: bool = False,
                      echo: Callable[[str], None] = print,
                      on_user: Callable[[], None] | None = None) -> list[SourceLoad]:
    """Create ``sources`` from the generator in the target's sandbox (see the module
    docstring); each source's dataset, batch and what was created.

    All or nothing per run: every source is checked, then every dataset made ready, then every
    table written; only when all batches succeeded are the earlier ones reverted. When a batch
    fails (or the run is interrupted) the batches this run already wrote are reverted, so the
    sandbox keeps the previous generation of every source.

    Raises:
        ProjectError: the sandbox is ``prod`` without ``force``, a source names a table the
            generator does not make, or a generated table is empty (all before any write).
        RunError: a dataset exists under a source's name with another schema (before any
            write), something else differs, or a batch failed.
        PlatformError: a call failed.
    """
    adapter = workspace.adapter
    client = adapter.platform
    assert client is not None, "synth_to_platform needs a target on Platform"
    sandbox = client.credentials.sandbox
    check_sandbox(sandbox, force)
    check_generated(sources)
    tenant = "_" + tenant_id(client)
    options = replace(options, tenant=tenant)
    schemas = synth.schemas(tenant)
    layouts = {s.name: layout(s.synthetic, schemas[s.synthetic].names, tenant) for s in sources}
    for source in sources:
        synth.check_table_name(source.identifier)
    tables = synth.generate(options, on_user)
    empty = [s.synthetic for s in sources if tables[s.synthetic].num_rows == 0]
    if empty:
        raise ProjectError(f"runner synth: the generated {empty[0]} table is empty "
                           f"({options.users} user(s) over {options.days} day(s), seed "
                           f"{options.seed}); raise --users or --days")
    for source in sources:
        _check_free(client, source, workspace.target)
    echo(f"synth: {options.users:,} users over {options.days} days ending {options.end} "
         f"(seed {options.seed}) into sandbox {sandbox}, tenant {tenant}")
    setups = {}
    for source in sources:
        xdm = layouts[source.name]
        fields = {f.name: spark_type(f.type) for f in schemas[source.synthetic].field(tenant).type}
        setups[source.name] = ensure_dataset(client, source.identifier, fields,
                                             xdm_class=xdm.xdm_class, standard=xdm.fieldgroups)
    batches: dict[str, IngestResult] = {}
    try:
        for source in sources:
            setup, table = setups[source.name], tables[source.synthetic]
            echo(f"source {source.name}: writing {table.num_rows:,} rows into dataset "
                 f"{source.identifier} ({setup.dataset_id}) as one batch")
            batches[source.name] = adapter.ingest(setup.dataset_id, table)
    except BaseException as exc:
        for batch in batches.values():
            _undo(client, batch.batch_id, exc)
        raise
    loads = []
    for source in sources:
        setup, batch = setups[source.name], batches[source.name]
        reverted = replace_batches(client, setup.dataset_id, batch.batch_id)
        loads.append(SourceLoad(source.name, source.identifier, setup.dataset_id,
                                batch.batch_id, batch.records, setup.created, reverted))
        echo(loads[-1].line())
    return loads


def _check_free(client: PlatformClient, source: SourceConfig, target: str) -> None:
    """Refuse a dataset named like the source whose schema is not the one synth makes.

    Raises:
        RunError: naming the dataset, its schema and what to do.
    """
    found = datasets_named(client, source.identifier)
    if not found:
        return
    schema = find_schema(client, source.identifier)
    for dataset_id, record in found.items():
        have = (record.get("schemaRef") or {}).get("id")
        if schema is None or have != schema.get("$id"):
            raise RunError(f"dataset '{source.identifier}' ({dataset_id}) on target "
                           f"'{target}' exists with schema {have}, not the schema "
                           f"'{source.identifier}' runner synth makes; delete that dataset in "
                           "Platform (it is a source of the project, so runner datasets rm "
                           f"keeps it) or set sources.{source.name}.identifier to another name")


def _undo(client: PlatformClient, batch_id: str, cause: BaseException) -> None:
    """Revert a batch this run wrote, noting on ``cause`` when that fails too."""
    try:
        revert_batch(client, batch_id)
    except PlatformError as err:
        cause.add_note(f"reverting batch {batch_id} of this run failed too: {err}")
