"""The local destination: the built table as Parquet or JSON-lines files under ``target/exports``.

Files land exactly as a dataset export to the Data Landing Zone would lay them out
(``<path>/<dataset id or relation>/exportTime=YYYYMMDDHHMM/part-00000-<id>-c000.gz.parquet``), so a
training notebook reads a local build and a platform build the same way. The rows come from the
engine through ``adapter.fetch_arrow``. Exporting the same dataset version again writes nothing
unless its files are gone (or ``force`` is given).

Only the current version stays under ``target/exports/<path>``: after a successful export the
part files this export wrote before (those its state record lists, and those of this model's
other version folders ``<model>__<fingerprint>``) are removed with the folders they leave empty,
so ``pd.read_parquet("target/exports/<path>")`` reads one version. A build with other
``--vars`` (another as-of date) exports beside it, into ``target/exports/<path>@<variant>``
(``ExportContext.variant``), and prunes only there. Nothing outside that folder and no file
another export's record lists is ever touched.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlglot import exp

from destinations.base import BuiltDataset, ExportContext, ExportResult, result
from destinations.config import ExportSpec
from destinations.files import write_export
from destinations.state import ExportState
from runner.errors import RunnerError


def export_base(spec: ExportSpec, ctx: ExportContext) -> Path:
    """``<project>/target/exports/<path>``: the one folder this export may write in;
    ``<path>@<variant>`` under vars other than project.yml's (kept beside the other)."""
    base = ctx.state_dir / "exports"
    folder = base / spec.params["path"] if spec.params.get("path") else base
    return folder.with_name(f"{folder.name}@{ctx.variant}") if ctx.variant else folder


def export_root(spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext) -> Path:
    """``<project>/target/exports/<path>/<dataset id or relation>``."""
    return export_base(spec, ctx) / (dataset.dataset_id or dataset.relation)


def _relative(path: Path, ctx: ExportContext) -> str:
    for root in (ctx.project_root, ctx.project_root.resolve()):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def written_files(spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext,
                  state: ExportState) -> list[Path]:
    """The part files of this export still on disk, under its base folder only.

    They are the files its state record lists and the ``exportTime=*/part-*`` files of its
    version folders (the current one and this model's ``<model>__<fingerprint>`` folders, found
    even when the state file was lost), less any file another export's record lists.
    """
    key = ctx.key(spec)
    base = export_base(spec, ctx).resolve()
    version = re.compile(re.escape(spec.model) + r"__[0-9a-f]+")
    folders = [export_root(spec, dataset, ctx)]
    if base.is_dir():
        folders += [d for d in base.iterdir() if d.is_dir() and version.fullmatch(d.name)]
    found = {p.resolve() for folder in folders for p in folder.glob("exportTime=*/part-*")}
    found |= {(ctx.project_root / f).resolve() for f in (state.get(key) or {}).get("files", [])}
    others = {(ctx.project_root / f).resolve() for k, rec in state.records.items() if k != key
              for f in rec.get("files", [])}
    return sorted(p for p in found - others if p.is_file() and p.is_relative_to(base))


def remove_files(files: list[Path], base: Path) -> None:
    """Delete ``files``, then each folder they leave empty up to ``base`` (included)."""
    base = base.resolve()
    for path in files:
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder.is_relative_to(base):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or already gone): stop climbing
                break
            folder = folder.parent


def _superseded(verb: str, stale: list[Path]) -> str:
    return f"; {verb} {len(stale)} superseded file(s)" if stale else ""


def run_local(spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext, state: ExportState,
              *, dry_run: bool = False, delete: bool = False,
              force: bool = False) -> ExportResult:
    """Write (or plan, or delete) the files of one local export.

    ``force`` writes a new ``exportTime=`` folder even when this version was exported already.
    """
    key = ctx.key(spec)
    base, root = export_base(spec, ctx), export_root(spec, dataset, ctx)
    record = state.get(key)
    owned = written_files(spec, dataset, ctx, state)
    if delete:
        if dry_run:
            return result(spec, "planned", f"remove {len(owned)} file(s)", files=len(owned),
                          plan=[f"DELETE {_relative(f, ctx)} — written by this export"
                                for f in owned])
        try:
            remove_files(owned, base)
        except OSError as exc:
            return result(spec, "error", f"could not remove the files of this export: {exc}")
        state.put(key, None)
        return result(spec, "deleted", f"removed {len(owned)} file(s)", files=len(owned),
                      path=_relative(root, ctx))
    version = {"dataset": dataset.dataset_id or dataset.relation,
               "fingerprint": dataset.fingerprint, "config": spec.config_hash()}
    current = not force and record is not None and record.get("version") == version and all(
        (ctx.project_root / f).exists() for f in record["files"])
    keep = {(ctx.project_root / f).resolve() for f in record["files"]} if current else set()
    stale = [f for f in owned if f not in keep]
    if dry_run:
        plan = [f"DELETE {_relative(f, ctx)} — superseded by the current version"
                for f in stale]
        if current:
            return result(spec, "planned", f"up to date: {record['path']} already holds this "
                          f"version{_superseded('remove', stale)}", path=record["path"], plan=plan)
        what = f"write {spec.format} ({spec.compression}) part files of {dataset.relation}"
        return result(spec, "planned", what, path=_relative(root, ctx),
                      plan=[f"WRITE {_relative(root, ctx)}/exportTime=… — {what}", *plan])
    if current:
        kw = dict(records=record["records"], bytes=record["bytes"], files=len(record["files"]),
                  path=record["path"])
        done = f"up to date: {record['path']} already holds this version"
        return _prune(spec, stale, base, done, **kw)
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
    outcome = _prune(spec, stale, base, f"wrote {table.num_rows} rows to {folder}",
                     records=table.num_rows, bytes=size, files=len(paths), path=folder)
    ctx.echo(f"exported {spec.model} -> {folder} ({table.num_rows} rows, {len(paths)} file(s), "
             f"{size} bytes){_superseded('removed', stale) if outcome.status == 'success' else ''}")
    return outcome


def _prune(spec: ExportSpec, stale: list[Path], base: Path, done: str,
           **kw: Any) -> ExportResult:
    """Remove the superseded files; the result of the export (an error if one stays)."""
    try:
        remove_files(stale, base)
    except OSError as exc:
        return result(spec, "error", f"{done}, but a superseded file stays: {exc}", **kw)
    return result(spec, "success", done + _superseded("removed", stale), **kw)
