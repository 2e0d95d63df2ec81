"""``runner scores ingest``: scores from a built model or a file written as a Profile dataset,
over ``runner.run.scores`` (the function ``Connection.ingest_scores`` calls).

Prints one summary line; a failed batch is one ``Error:`` line and exit 1, a usage or project
error exit 2, as everywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runner.cli.arguments import column_names
from runner.run import datasets
from runner.run.options import BuildOptions
from runner.run.session import open_workspace


def add_scores_command(sub: Any, common: argparse.ArgumentParser, vars_type: Any) -> None:
    """Register ``runner scores`` and its action ``ingest`` (``vars_type`` parses ``--vars``)."""
    p = sub.add_parser("scores", help="write scores back into Platform as a Profile dataset")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("ingest", parents=[common],
                           help="write a model's or a file's scores as a Profile dataset")
    a.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
    a.add_argument("--vars", type=vars_type, metavar="YAML", help="override project vars")
    a.add_argument("--dataset", required=True, metavar="NAME", help="the dataset to write")
    a.add_argument("--identity", required=True, metavar="COL", help="the identity column")
    a.add_argument("--scores", type=column_names, metavar="A,B",
                   help="the score columns (default: every other column)")
    a.add_argument("--namespace", default="ECID",
                   help="the identity namespace of the primary identity (default ECID)")
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="M", help="a built model of the project")
    source.add_argument("--file", type=Path, metavar="F", help="a .parquet or .csv file")
    a.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from runner.run.scores import ingest_scores

    data = args.model if args.model is not None else datasets.table_from_file(args.file)
    workspace = open_workspace(args.project_dir, BuildOptions(target=args.target, vars=args.vars))
    try:
        result = ingest_scores(workspace, data, args.dataset, args.identity, args.scores,
                               args.namespace)
    finally:
        workspace.adapter.close()
    if not result.ok:
        print(f"Error: {result.summary()}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
