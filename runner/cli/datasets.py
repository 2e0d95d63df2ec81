"""``runner datasets ls|show|read|write|rm``: the target's datasets from a terminal, over
``runner.run.datasets`` (the functions ``Connection.datasets/dataset/read/write/drop`` call).

``write`` reads a Parquet or CSV file; ``read`` prints the first rows, or writes Parquet with
``--out``; ``rm`` drops nothing without ``--yes``. Usage errors exit 2, as everywhere.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runner.adapters.base import DatasetInfo
from runner.cli.arguments import column_names, whole_number
from runner.errors import ProjectError
from runner.run import datasets
from runner.run.options import BuildOptions
from runner.run.session import Workspace, open_workspace

T = TypeVar("T")
PRINTED_ROWS = 10


def add_datasets_command(sub: Any, common: argparse.ArgumentParser, vars_type: Any) -> None:
    """Register ``runner datasets`` and its actions (``vars_type`` parses ``--vars``)."""
    targeted = argparse.ArgumentParser(add_help=False, parents=[common])
    targeted.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
    targeted.add_argument("--vars", type=vars_type, metavar="YAML", help="override project vars")
    p = sub.add_parser("datasets", help="list, show, read, write and drop the target's datasets")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("ls", parents=[targeted], help="list the datasets")
    a.add_argument("--output", choices=["text", "json"], default="text")
    a.set_defaults(func=_ls)
    a = actions.add_parser("show", parents=[targeted],
                           help="a dataset's metadata, columns (Spark types) and exact rows")
    a.add_argument("name")
    a.add_argument("--output", choices=["text", "json"], default="text")
    a.set_defaults(func=_show)
    a = actions.add_parser("read", parents=[targeted],
                           help=f"print a dataset's first rows (default {PRINTED_ROWS}), or "
                                "write them to Parquet with --out")
    a.add_argument("name")
    a.add_argument("--columns", type=column_names, metavar="A,B", help="only these columns")
    a.add_argument("--limit", type=whole_number(0), metavar="N",
                   help=f"at most N rows (default {PRINTED_ROWS} printed; all with --out)")
    a.add_argument("--out", type=_parquet_path, metavar="FILE.parquet")
    a.set_defaults(func=_read)
    a = actions.add_parser("write", parents=[targeted],
                           help="write a Parquet or CSV file as a dataset")
    a.add_argument("name")
    a.add_argument("file", type=Path, help="a .parquet or .csv file")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--replace", action="store_true", help="replace the dataset of that name")
    how.add_argument("--append", action="store_true", help="append to the dataset of that name")
    a.set_defaults(func=_write)
    a = actions.add_parser("rm", parents=[targeted], help="drop a dataset (needs --yes)")
    a.add_argument("name")
    a.add_argument("--yes", action="store_true", help="drop it: there is no undo")
    a.set_defaults(func=_rm)


def _on_target(args: argparse.Namespace, work: Callable[[Workspace], T]) -> tuple[T, str]:
    """``work(workspace)`` and the target's name, holding the target only during it."""
    workspace = open_workspace(args.project_dir, BuildOptions(target=args.target, vars=args.vars))
    try:
        return work(workspace), workspace.target
    finally:
        workspace.adapter.close()


def _ls(args: argparse.Namespace) -> int:
    listed, target = _on_target(args, datasets.list_datasets)
    if args.output == "json":
        for info in listed:
            print(json.dumps(datasets.as_json(info)))
        return 0
    rows = [("name", "kind", "rows", "columns", "profile", "updated", "id")] + [
        (d.name, d.kind, _rows(d), "-" if d.columns is None else str(len(d.columns)),
         "yes" if d.profile else "no", datasets.as_json(d)["updated"] or "-", d.id or "-")
        for d in listed]
    _print_rows(rows)
    print(f"{len(listed)} dataset(s) on target '{target}'")
    return 0


def _show(args: argparse.Namespace) -> int:
    info, _ = _on_target(args, lambda w: datasets.describe(w, args.name))
    if args.output == "json":
        print(json.dumps(datasets.as_json(info)))
        return 0
    shown = datasets.as_json(info)
    labels = info.labels or {}
    print(f"name: {info.name}")
    print(f"kind: {info.kind}" + (f" (table {info.table})" if info.table != info.name else ""))
    for key in ("id", "created", "updated"):
        print(f"{key}: {shown[key] or '-'}")
    print(f"rows: {_rows(info)}")
    print(f"profile: {'yes' if info.profile else 'no'}")
    print(f"labels: {_names(labels.get('', frozenset())) if info.labels is not None else '-'}")
    columns = info.columns or {}
    print(f"columns ({len(columns)}):")
    width = max((len(name) for name in columns), default=0)
    for name, spark_type in columns.items():
        tail = f"  [{_names(labels[name])}]" if labels.get(name) else ""
        print(f"  {name.ljust(width)}  {spark_type}{tail}")
    return 0


def _read(args: argparse.Namespace) -> int:
    limit = args.limit if args.limit is not None or args.out else PRINTED_ROWS
    table, _ = _on_target(args, lambda w: datasets.read(w, args.name, args.columns, limit))
    if args.out is not None:
        import pyarrow.parquet as pq

        args.out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, args.out)
        print(f"Wrote {table.num_rows:,} row(s) of {args.name} to {args.out}")
        return 0
    if not table.num_rows:
        print(f"{args.name}: no rows")
        return 0
    _print_rows([table.column_names] + [["NULL" if v is None else str(v) for v in row.values()]
                                        for row in table.to_pylist()])
    return 0


def _write(args: argparse.Namespace) -> int:
    data = datasets.table_from_file(args.file)
    info, target = _on_target(args, lambda w: datasets.write(w, args.name, data, replace=args.replace,
                                                     append=args.append))
    verb = "Appended to" if args.append else "Replaced" if args.replace else "Wrote"
    print(f"{verb} dataset {info.name} on target '{target}' from {args.file}: "
          f"{_rows(info)} row(s), {len(info.columns or {})} column(s)")
    return 0


def _rm(args: argparse.Namespace) -> int:
    if not args.yes:
        raise ProjectError(f"runner datasets rm {args.name} drops the dataset for good; add "
                           "--yes to confirm")
    info, target = _on_target(args, lambda w: datasets.drop(w, args.name))
    print(f"Dropped dataset {info.name} on target '{target}'")
    return 0


def _print_rows(rows: list[list[str]] | list[tuple[str, ...]]) -> None:
    """Rows of text in columns padded to their widest cell (no pandas needed)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _rows(info: DatasetInfo) -> str:
    if info.rows is None:
        return "-"
    return f"{info.rows}" if info.rows_exact else f"~{info.rows}"


def _names(labels: frozenset[str]) -> str:
    return ", ".join(sorted(labels)) or "-"


def _parquet_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".parquet":
        raise argparse.ArgumentTypeError(f"expected a .parquet file, got {text!r}")
    return path
