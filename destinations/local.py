"""The local destination: the built table as Parquet or JSON-lines files under ``target/exports``.

Files land exactly as a dataset export to the Data Landing Zone would lay them out
(``<path>/<dataset id or relation>/exportTime=YYYYMMDDHHMM/part-00000-<id>-c000.gz.parquet``), so a
training notebook reads a local build and a platform build the same way. The rows come from the
engine through ``adapter.fetch_arrow``. Exporting the same dataset version again writes nothing
unless its files are gone.
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from destinations.base import BuiltDataset, ExportContext, ExportResult, result
from destinations.config import ExportSpec
from destinations.files import write_export
from destinations.state import ExportState
from runner.errors import RunnerError


def export_root(spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext) -> Path:
    """``<project>/target/exports/<path>/<dataset id or relation>``."""
    base = ctx.state_dir / "exports"
    if spec.params.get("path"):
        base = base / spec.params["path"]
    return base / (dataset.dataset_id or dataset.relation)


def _relative(path: Path, ctx: ExportContext) -> str:
    try:
        return str(path.relative_to(ctx.project_root))
    except ValueError:
        return str(path)


def run_local(spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext, state: ExportState,
              *, dry_run: bool = False, delete: bool = False) -> ExportResult:
    """Write (or plan, or delete) the files of one local export."""
    key = f"{spec.model}:{spec.name}"
    root = export_root(spec, dataset, ctx)
    record = state.get(key)
    version = {"dataset": dataset.dataset_id or dataset.relation,
               "fingerprint": dataset.fingerprint, "config": spec.config_hash()}
    if delete:
        files = [ctx.project_root / f for f in (record or {}).get("files", [])]
        if dry_run:
            return result(spec, "planned", f"remove {len(files)} file(s)", files=len(files),
                          plan=[f"DELETE {_relative(f, ctx)} — written by the last export"
                                for f in files])
        for path in files:
            path.unlink(missing_ok=True)
        state.put(key, None)
        return result(spec, "deleted", f"removed {len(files)} file(s)", files=len(files),
                      path=_relative(root, ctx))
    current = record is not None and record.get("version") == version and all(
        (ctx.project_root / f).exists() for f in record["files"])
    if dry_run:
        what = ("up to date: nothing to write" if current else
                f"write {spec.format} ({spec.compression}) part files of {dataset.relation}")
        return result(spec, "planned", what, path=_relative(root, ctx),
                      plan=[f"WRITE {_relative(root, ctx)}/exportTime=… — {what}"])
    if current:
        return result(spec, "success", f"up to date: {record['path']} already holds this "
                      "version", records=record["records"], bytes=record["bytes"],
                      files=len(record["files"]), path=record["path"])
    try:
        query = exp.select("*").from_(exp.to_table(dataset.relation))
        table = ctx.adapter.fetch_arrow(query.sql(dialect=ctx.adapter.dialect))
        paths = write_export(table, root, ctx.clock(), spec.format, spec.compression)
    except (RunnerError, OSError) as exc:
        return result(spec, "error", f"local export of {dataset.relation} failed: {exc}")
    folder = _relative(paths[0].parent, ctx)
    size = sum(p.stat().st_size for p in paths)
    state.put(key, {"version": version, "path": folder, "records": table.num_rows,
                    "bytes": size, "files": [_relative(p, ctx) for p in paths]})
    ctx.echo(f"exported {spec.model} -> {folder} ({table.num_rows} rows, {len(paths)} file(s), "
             f"{size} bytes)")
    return result(spec, "success", f"wrote {table.num_rows} rows to {folder}",
                  records=table.num_rows, bytes=size, files=len(paths), path=folder)
