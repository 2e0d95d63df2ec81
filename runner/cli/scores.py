"""``runner scores ingest``: scores from a built model or a file written as a Profile dataset,
over ``runner.run.scores`` (the function ``Connection.ingest_scores`` calls).

Prints one summary line; a failed batch is one ``Error:`` line and exit 1, a usage or project
error exit 2, as everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.cli.arguments import column_names
from runner.cli.target_action import add_target_action, run_target_action
from runner.run import datasets


def add_scores_command(sub: Any, common: argparse.ArgumentParser, vars_type: Any) -> None:
    """Register ``runner scores`` and its action ``ingest`` (``vars_type`` parses ``--vars``)."""
    a = add_target_action(sub, "scores", "write scores back into Platform as a Profile dataset",
                          "ingest", "write a model's or a file's scores as a Profile dataset",
                          common, vars_type)
    a.add_argument("--dataset", required=True, metavar="NAME", help="the dataset to write")
    a.add_argument("--identity", required=True, metavar="COL", help="the identity column")
    a.add_argument("--scores", type=column_names, metavar="A,B",
                   help="the score columns (default: every other column)")
    a.add_argument("--namespace", default="ECID",
                   help="the identity namespace of the primary identity (default ECID)")
    a.add_argument("--replace", action="store_true",
                   help="keep only these scores: revert the dataset's earlier batches once "
                        "this one succeeded (locally: replace the dataset)")
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="M", help="a built model of the project")
    source.add_argument("--file", type=Path, metavar="F", help="a .parquet or .csv file")
    a.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from runner.run.scores import ingest_scores

    data = args.model if args.model is not None else datasets.table_from_file(args.file)
    return run_target_action(args, lambda w: ingest_scores(
        w, data, args.dataset, args.identity, args.scores, args.namespace, args.replace))
