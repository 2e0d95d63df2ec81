"""``runner audience create|estimate``: an audience on a score field, over
``runner.run.audiences`` (the functions ``Connection.create_audience`` and
``Connection.estimate_audience`` call).

Prints one summary line; a dataflow the label policy refuses is one ``Error:`` line and exit 1
(nothing sent to it), a usage or project error exit 2, as everywhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli.target_action import add_target_actions, run_target_action


def add_audience_command(sub: Any, common: argparse.ArgumentParser, vars_type: Any) -> None:
    """Register ``runner audience`` and its actions ``create`` and ``estimate`` (``vars_type``
    parses ``--vars``)."""
    a, e = add_target_actions(
        sub, "audience", "audiences on a score field (segment definitions)",
        [("create", "make an audience of the profiles with a score in range"),
         ("estimate", "count the profiles with a score in range, making nothing")],
        common, vars_type)
    a.add_argument("--name", required=True, help="the audience's name")
    for p in (a, e):
        p.add_argument("--field", required=True, metavar="F", help="the score field (propensity)")
        p.add_argument("--min", type=float, dest="minimum", metavar="X", help="inclusive minimum")
        p.add_argument("--max", type=float, dest="maximum", metavar="Y", help="inclusive maximum")
    a.add_argument("--run", action="store_true",
                   help="evaluate it now (a segment job) and print the profile count")
    where = a.add_mutually_exclusive_group()
    where.add_argument("--flow", metavar="FLOW_ID", help="add it to this destination dataflow")
    where.add_argument("--export", metavar="NAME",
                       help="activate it to the destination of this export of project.yml "
                            "(its audience dataflow is made the first time)")
    a.add_argument("--dataset", metavar="NAME",
                   help="the scores dataset (required off Platform and with --flow/--export)")
    a.add_argument("--activate-now", action="store_true", dest="activate",
                   help="with --flow/--export: export it through the dataflow now and wait")
    a.set_defaults(func=_create)
    e.add_argument("--dataset", metavar="NAME",
                   help="the scores dataset to count (required off Platform)")
    e.set_defaults(func=_estimate)


def _create(args: argparse.Namespace) -> int:
    from runner.run.audiences import create_audience

    return run_target_action(args, lambda w: create_audience(
        w, args.name, args.field, args.minimum, args.maximum, run=args.run, flow=args.flow,
        export=args.export, dataset=args.dataset, activate=args.activate))


def _estimate(args: argparse.Namespace) -> int:
    from runner.run.audiences import estimate_audience

    return run_target_action(args, lambda w: estimate_audience(
        w, args.field, args.minimum, args.maximum, dataset=args.dataset))
