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
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runner.adapters.base import Adapter
from runner.project.config import ProjectConfig, SourceConfig
from runner.errors import ProjectError
from runner.validation import PROJECT_FILE

if TYPE_CHECKING:
    from runner.sources.synth import SynthOptions


def prepare_local_sources(config: ProjectConfig, adapter: Adapter, names: Iterable[str],
                          echo: Callable[[str], None]) -> list[str]:
    """Make the local sources among ``names`` ready; return the identifiers created (none on
    an engine that does not hold local sources).

    Every file source is checked first (a missing or unreadable file is a project error, and
    nothing is built), and its view is made again each time, so it reads the file project.yml
    names now, relative to the project wherever the project has moved. A table of that name
    (loaded by hand) is used as it is.

    Raises:
        ProjectError: a file source's path names nothing readable (project.yml, the key path).
    """
    if not adapter.creates_local_sources:
        return []
    wanted = [config.sources[n] for n in sorted(set(names))]
    for source in wanted:
        if source.path:
            check_source_file(config.root, source, adapter.file_suffixes)
    existing = adapter.relations()
    created: list[str] = []
    synthetic = [s for s in wanted if s.synthetic and s.identifier.lower() not in existing]
    if synthetic:
        created += _create_synthetic(config, adapter, synthetic, echo)
    for source in wanted:
        kind = existing.get(source.identifier.lower())
        if source.path and kind != "table":
            adapter.execute(adapter.file_view_sql(source.identifier, Path(source.path)))
            if kind is None:
                echo(f"source {source.name}: view over {source.path}")
                created.append(source.identifier)
    return created


def check_source_file(root: Path, source: SourceConfig, suffixes: Iterable[str]) -> list[Path]:
    """The files a ``path:`` source reads (a glob may match several); ProjectError naming
    project.yml and the source when there is none, one cannot be read, or the type is unknown."""
    assert source.path is not None
    keypath = f"sources.{source.name}.path"
    suffix = Path(source.path).suffix.lower()
    if suffix not in suffixes:
        raise ProjectError(f"{keypath}: unknown file type '{suffix}' (one of "
                           f"{', '.join(sorted(suffixes))})", PROJECT_FILE)
    pattern = any(ch in source.path for ch in "*?[")
    files = sorted(root.glob(source.path)) if pattern else [root / source.path]
    files = [f for f in files if f.is_file()]
    if not files:
        what = "matches no file" if pattern else "does not exist"
        raise ProjectError(f"{keypath}: {source.path} {what} (relative to the project "
                           f"folder); point it at a Parquet, CSV or JSON file", PROJECT_FILE)
    for file in files:
        if not os.access(file, os.R_OK):
            raise ProjectError(f"{keypath}: {file.relative_to(root) if file.is_relative_to(root) else file} "
                               "cannot be read (check its permissions)", PROJECT_FILE)
    return files


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
            files = check_source_file(config.root, source, adapter.file_suffixes)
            stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
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


def check_generated(sources: Iterable[SourceConfig]) -> None:
    """Refuse a source whose ``synthetic:`` names a table the generator does not make.

    Raises:
        ProjectError: naming project.yml's key and the tables the generator makes.
    """
    from runner.sources import synth

    made = synth.schemas()
    for source in sources:
        if source.synthetic not in made:
            raise ProjectError(f"sources.{source.name}.synthetic: the generator makes "
                               f"{', '.join(sorted(made))}, not '{source.synthetic}'",
                               "project.yml")


def load_synthetic(adapter: Adapter, sources: list[SourceConfig], options: SynthOptions,
                   echo: Callable[[str], None],
                   on_user: Callable[[], None] | None = None) -> dict[str, int]:
    """Generate the synthetic tables and (re)create ``sources`` from them in a target that holds
    local sources (``Adapter.load_arrow``), recording their version; returns the row count by
    identifier. ``on_user`` is called after each user is simulated (progress)."""
    from runner.sources import synth

    check_generated(sources)
    tables = synth.generate(options, on_user)
    wanted = {synth.check_table_name(s.identifier): tables[s.synthetic] for s in sources}
    counts = adapter.load_arrow(wanted)
    record_versions(adapter, {name: synth_version(options) for name in counts})
    for name, rows in counts.items():
        echo(f"source {name}: generated {rows:,} synthetic rows "
             f"(users={options.users}, days={options.days}, seed={options.seed})")
    return counts
