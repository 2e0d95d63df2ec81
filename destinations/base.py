"""What every destination receives and returns.

The build hands the exporter a :class:`BuiltDataset` per model (its physical table and, on Data
Distiller, its Catalog dataset id) and an :class:`ExportContext` (the open adapter, the target,
where to keep state, the Platform client, a progress sink). Each export produces one
:class:`ExportResult`, which goes into ``target/run_results.json``. A destination never raises
for a failed export: it returns a result with status ``error`` and a one-line message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from destinations.config import ExportSpec

if TYPE_CHECKING:
    from runner.adapters import Adapter
    from runner.platform.client import PlatformClient

STATUSES = ("success", "error", "skipped", "planned", "deleted")


@dataclass(frozen=True)
class BuiltDataset:
    """A model's table as built in this run."""

    model: str
    relation: str
    fingerprint: str
    dataset_id: str | None


@dataclass
class ExportContext:
    """Everything an export needs from the build.

    ``platform`` is the adapter's Platform client (``Adapter.platform``): None on a target that
    is not on Adobe Experience Platform, where Flow Service exports do not apply.
    ``project_name`` (defaults to the project folder's name), ``clock`` and ``sleep`` are
    additions with defaults: tests pass a fixed clock and a sleep that does not wait.
    ``variant`` names the vars the build ran with when they are not project.yml's (for example
    ``as_of_date=2026-05-01``; '' with project.yml's): it is part of every export's identity
    (``key``), so the exports of two as-of dates are kept side by side.
    """

    adapter: Adapter
    target_name: str
    target_type: str
    project_root: Path
    state_dir: Path
    platform: PlatformClient | None
    echo: Callable[[str], None]
    project_name: str = ""
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    variant: str = ""

    @property
    def project(self) -> str:
        return self.project_name or self.project_root.resolve().name

    def flow_name(self, spec: ExportSpec, *, audiences: bool = False) -> str:
        """The Flow Service name of ``spec``'s dataflow in this build (its audience dataflow's
        with ``audiences``): :func:`flow_base_name`, then ``@<variant>``."""
        base = flow_base_name(self.project, spec, audiences=audiences)
        return base + (f"@{self.variant}" if self.variant else "")

    def key(self, spec: ExportSpec) -> str:
        """The identity of ``spec``'s export in this build: ``<model>:<name>``, then
        ``@<variant>`` under vars other than project.yml's (state records and flow names)."""
        return f"{spec.model}:{spec.name}" + (f"@{self.variant}" if self.variant else "")


def flow_base_name(project: str, spec: ExportSpec, *, audiences: bool = False) -> str:
    """``runner:<project>:<model>:<export>``, the dataflow of an export before any
    ``@<variant>``; ``runner:<project>:audiences:<model>:<export>`` for its audience dataflow
    (an export is its model and name: one more part, so it is no model's dataset flow)."""
    return (f"runner:{project}:audiences:{spec.model}:{spec.name}" if audiences
            else f"runner:{project}:{spec.model}:{spec.name}")


@dataclass
class ExportResult:
    """The outcome of one export (``plan`` lists the calls of a dry run; ``labels`` what the
    label policy refused or let through by override, ``runner.run.label_policy``)."""

    model: str
    destination: str
    status: str
    message: str
    flow_id: str | None = None
    run_id: str | None = None
    records: int | None = None
    bytes: int | None = None
    files: int | None = None
    path: str | None = None
    plan: list[str] = field(default_factory=list)
    labels: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict for run_results.json."""
        return asdict(self)


def result(spec: ExportSpec, status: str, message: str, **kw: Any) -> ExportResult:
    """An ExportResult for ``spec``."""
    return ExportResult(model=spec.model, destination=spec.name, status=status,
                        message=message, **kw)
