"""The shape of a ``runner <command> <action>`` that does one thing on a target and prints a
result's one-line summary (``runner scores ingest``, ``runner audience create``): its parser
(project flags, ``-t/--target``, ``--vars``) and its run (the workspace opened and closed, the
summary printed, exit 0, or an ``Error:`` line and exit 1 when the result is not ok).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Protocol

from runner.run.options import BuildOptions
from runner.run.session import Workspace, open_workspace


class Outcome(Protocol):
    """A result with a verdict and a one-line summary."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


def add_target_actions(sub: Any, command: str, command_help: str,
                       actions: list[tuple[str, str]], common: argparse.ArgumentParser,
                       vars_type: Any) -> list[argparse.ArgumentParser]:
    """Register ``runner <command> <action>`` for each ``(action, help)``, each with
    ``-t/--target`` and ``--vars``; their parsers, in order."""
    p = sub.add_parser(command, help=command_help)
    subs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    parsers = []
    for action, action_help in actions:
        a = subs.add_parser(action, parents=[common], help=action_help)
        a.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
        a.add_argument("--vars", type=vars_type, metavar="YAML", help="override project vars")
        parsers.append(a)
    return parsers


def add_target_action(sub: Any, command: str, command_help: str, action: str, action_help: str,
                      common: argparse.ArgumentParser, vars_type: Any
                      ) -> argparse.ArgumentParser:
    """Register ``runner <command> <action>`` with ``-t/--target`` and ``--vars``; its parser."""
    return add_target_actions(sub, command, command_help, [(action, action_help)], common,
                              vars_type)[0]


def run_target_action(args: argparse.Namespace, work: Callable[[Workspace], Outcome]) -> int:
    """``work`` on the workspace of ``args``; its summary printed, the exit code returned."""
    workspace = open_workspace(args.project_dir, BuildOptions(target=args.target, vars=args.vars))
    try:
        result = work(workspace)
    finally:
        workspace.adapter.close()
    if not result.ok:
        print(f"Error: {result.summary()}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
