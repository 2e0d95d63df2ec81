"""The synthetic sources created on a Platform sandbox (``runner synth --target <data_distiller
target>``): what Adobe's first CMLE notebook does by hand, so the example builds on Data
Distiller from nothing.

For each generated source, through the same calls as ``runner scores ingest``
(``runner.platform.schemas.ensure_dataset``, ``runner.platform.ingest``): a tenant field group
``<dataset> fields`` with the ``_<tenant>`` fields (``userid``), a schema titled like the
dataset of the table's XDM class with the standard field groups its columns belong to
(``runner.sources.xdm``) and the tenant one, a dataset named like the source's table (Data
Distiller names the table after it), and one Parquet batch of the rows, nested XDM kept. Each
is found by name before it is made, so a second run creates nothing but a batch; once that
batch has succeeded the earlier ones are reverted (the dataset holds one generation of rows).
The sandbox named ``prod`` is refused unless forced: synthetic people do not belong in
production Profile data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from runner.errors import ProjectError
from runner.platform.ingest import replace_batches
from runner.platform.schemas import ensure_dataset, spark_type, tenant_id
from runner.sources import synth
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

    Raises:
        ProjectError: the sandbox is ``prod`` without ``force``, or a source names a table the
            generator does not make (checked before anything is created).
        RunError: something exists under a name but differs, or a batch failed.
        PlatformError: a call failed.
    """
    adapter = workspace.adapter
    client = adapter.platform
    assert client is not None, "synth_to_platform needs a target on Platform"
    sandbox = client.credentials.sandbox
    check_sandbox(sandbox, force)
    unknown = [s for s in sources if s.synthetic not in synth.schemas()]
    if unknown:
        raise ProjectError(f"sources.{unknown[0].name}.synthetic: the generator makes "
                           f"{', '.join(sorted(synth.schemas()))}, not '{unknown[0].synthetic}'",
                           "project.yml")
    tenant = "_" + tenant_id(client)
    options = replace(options, tenant=tenant)
    for source in sources:
        layout(source.synthetic, synth.schemas(tenant)[source.synthetic].names, tenant)
        synth.check_table_name(source.identifier)
    tables = synth.generate(options, on_user)
    echo(f"synth: {options.users:,} users over {options.days} days ending {options.end} "
         f"(seed {options.seed}) into sandbox {sandbox}, tenant {tenant}")
    loads = []
    for source in sources:
        table = tables[source.synthetic]
        xdm = layout(source.synthetic, table.column_names, tenant)
        fields = {f.name: spark_type(f.type) for f in table.schema.field(tenant).type}
        setup = ensure_dataset(client, source.identifier, fields, xdm_class=xdm.xdm_class,
                               standard=xdm.fieldgroups)
        batch = adapter.ingest(setup.dataset_id, table)
        reverted = replace_batches(client, setup.dataset_id, batch.batch_id)
        loads.append(SourceLoad(source.name, source.identifier, setup.dataset_id,
                                batch.batch_id, batch.records, setup.created, reverted))
        echo(loads[-1].line())
    return loads
