"""Local sources: make the raw tables a local (DuckDB) build reads exist.

On an engine target the sources are already there (datasets in Data Distiller, tables in
PostgreSQL). On an engine that holds local sources (``Adapter.creates_local_sources``: the
embedded DuckDB default) a source declared with ``synthetic:`` is created by the deterministic
generator (``runner.sources.synth``) the first time a build needs it, and one declared with
``path:`` becomes a view over that Parquet, CSV or JSON file. A table already there is used as
it is.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runner.adapters.base import Adapter
from runner.project.config import ProjectConfig, SourceConfig
from runner.errors import ProjectError

if TYPE_CHECKING:
    from runner.sources.synth import SynthOptions


def prepare_local_sources(config: ProjectConfig, adapter: Adapter, names: Iterable[str],
                          echo: Callable[[str], None]) -> list[str]:
    """Create the missing local sources among ``names``; return the identifiers created
    (none on an engine that does not hold local sources)."""
    if not adapter.creates_local_sources:
        return []
    existing = adapter.relations()
    missing = [config.sources[n] for n in sorted(set(names))
               if config.sources[n].identifier.lower() not in existing]
    created: list[str] = []
    synthetic = [s for s in missing if s.synthetic]
    if synthetic:
        created += _create_synthetic(config, adapter, synthetic, echo)
    for source in missing:
        if source.path:
            _create_file_view(config.root, adapter, source)
            echo(f"source {source.name}: view over {source.path}")
            created.append(source.identifier)
    return created


VERSIONS_TABLE = "_runner_source_versions"


def source_versions(config: ProjectConfig, adapter: Adapter, names: Iterable[str]
                    ) -> dict[str, str]:
    """A version string per source whose data the runner can see change (others are left out).

    A file source's version is its size and modification time (its view reads the file
    lazily, so tables built from it must rebuild when it changes); a synthetic source's is the
    generator options it was last generated with, recorded when the runner wrote it; otherwise
    the engine's own (``Adapter.data_versions``: Catalog's ``updated`` on Data Distiller). A model's
    fingerprint includes the versions of the sources it reads, so new data means a new build.
    """
    versions: dict[str, str] = {}
    recorded = _recorded_versions(adapter)
    ask: dict[str, str] = {}
    for name in sorted(set(names)):
        source = config.sources[name]
        if source.path and adapter.creates_local_sources:
            files = sorted((config.root).glob(source.path)) if any(
                ch in source.path for ch in "*?[") else [config.root / source.path]
            stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists()]
            versions[name] = f"file {stats}"
        elif source.identifier.lower() in recorded:
            versions[name] = recorded[source.identifier.lower()]
        else:
            ask[source.identifier] = name
    if ask:  # engines that keep a version of their data (Data Distiller: Catalog)
        for identifier, version in adapter.data_versions(sorted(ask)).items():
            versions[ask[identifier]] = version
    return versions


def record_versions(adapter: Adapter, versions: dict[str, str]) -> None:
    """Remember how the runner produced local source tables (see ``source_versions``), in the
    engine holding them: the table is replaced whole through ``load_arrow`` (Spark's Parquet
    tables have no DELETE, and every engine holding local sources can load Arrow)."""
    import pyarrow as pa

    merged = {**_recorded_versions(adapter), **{k.lower(): v for k, v in versions.items()}}
    keys = sorted(merged)
    adapter.load_arrow({VERSIONS_TABLE: pa.table({
        "identifier": pa.array(keys, pa.string()),
        "version": pa.array([merged[k] for k in keys], pa.string())})})


def _recorded_versions(adapter: Adapter) -> dict[str, str]:
    if not adapter.creates_local_sources or VERSIONS_TABLE not in adapter.relations():
        return {}
    return dict(adapter.fetch(f"SELECT identifier, version FROM {VERSIONS_TABLE}"))


def synth_version(options: SynthOptions) -> str:
    """The version of data generated with ``options`` (the generator is deterministic)."""
    return f"synth {options!r}"


def synth_options(config: ProjectConfig, **overrides: object) -> SynthOptions:
    """``runner.sources.synth.SynthOptions`` from project.yml's ``synth:`` block and CLI overrides."""
    from runner.sources.synth import SynthOptions

    values: dict[str, object] = {"users": config.synth.users, "days": config.synth.days,
                                 "seed": config.synth.seed}
    if config.synth.end:
        try:
            values["end"] = datetime.date.fromisoformat(config.synth.end)
        except ValueError:
            raise ProjectError(f"synth.end: '{config.synth.end}' is not a date (YYYY-MM-DD)",
                               "project.yml") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SynthOptions(**values)


def _create_synthetic(config: ProjectConfig, adapter: Adapter, sources: list[SourceConfig],
                      echo: Callable[[str], None]) -> list[str]:
    return list(load_synthetic(adapter, sources, synth_options(config), echo))


def load_synthetic(adapter: Adapter, sources: list[SourceConfig], options: SynthOptions,
                   echo: Callable[[str], None]) -> dict[str, int]:
    """Generate the synthetic tables and (re)create ``sources`` from them in a target that holds
    local sources (``Adapter.load_arrow``), recording their version; returns the row count by
    identifier."""
    from runner.sources import synth

    tables = synth.generate(options)
    wanted = {}
    for source in sources:
        if source.synthetic not in tables:
            raise ProjectError(f"sources.{source.name}.synthetic: the generator makes "
                               f"{', '.join(sorted(tables))}, not '{source.synthetic}'",
                               "project.yml")
        wanted[synth.check_table_name(source.identifier)] = tables[source.synthetic]
    counts = adapter.load_arrow(wanted)
    record_versions(adapter, {name: synth_version(options) for name in counts})
    for name, rows in counts.items():
        echo(f"source {name}: generated {rows:,} synthetic rows "
             f"(users={options.users}, days={options.days}, seed={options.seed})")
    return counts


def _create_file_view(root: Path, adapter: Adapter, source: SourceConfig) -> None:
    assert source.path is not None
    file = (root / source.path).resolve()
    if not file.exists() and not any(ch in source.path for ch in "*?"):
        raise ProjectError(f"sources.{source.name}.path: {source.path} does not exist; "
                           "point it at a Parquet, CSV or JSON file", "project.yml")
    if file.suffix.lower() not in adapter.file_suffixes:
        raise ProjectError(f"sources.{source.name}.path: unknown file type '{file.suffix}' "
                           f"(one of {', '.join(sorted(adapter.file_suffixes))})", "project.yml")
    adapter.execute(adapter.file_view_sql(source.identifier, file))
