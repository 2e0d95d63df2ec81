"""``retry``: build again what failed or was skipped in the last run on a target (``runner
retry``).

The last run is ``target/run_results.json``. Its models with status ``error`` or ``skipped``
are selected (``result:error result:skipped``, see ``runner.run.history``), with the models an
error-severity data test of failed (tested again first), and built with that
run's vars, ``--full-refresh``, ``--fail-fast``, threads and exports switch, so what it built
keeps its versions and only the rest runs (with the project as it is now: the fix included). A
model an interrupted run never started is not in its results; ``runner build`` builds it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.errors import ProjectError
from runner.project.config import load_project
from runner.run.atomic import read_json
from runner.run.build import build
from runner.run.events import EventLog
from runner.run.options import BuildOptions
from runner.run.paths import TargetPaths
from runner.run.progress import BarFactory, Echo
from runner.run.results import BuildResult

AGAIN = ("error", "skipped")


def retry(root: str | Path, options: BuildOptions | None = None, echo: Echo = print,
          bar: BarFactory | None = None, events: EventLog | None = None) -> BuildResult | None:
    """Build the models that failed or were skipped in the last run on ``options.target``;
    None (after one line saying why) when there is nothing to retry.

    Only ``target``, ``threads``, ``verbose`` and ``heartbeat`` are taken from ``options``; the
    rest is the last run's.

    Raises:
        ProjectError: the project is wrong, or the run results cannot be read.
        RunError: as ``build``.
    """
    options = options or BuildOptions()
    config = load_project(Path(root))
    target, _ = config.target(options.target)
    paths = TargetPaths(config.root, target)
    shown = paths.shown(paths.run_results)
    try:
        last = read_json(paths.run_results, None)
    except ValueError as err:
        raise ProjectError(f"{shown}: cannot be read as JSON ({err})") from None
    if not isinstance(last, dict):
        echo(f"Nothing to retry: no run is recorded in {shown}.")
        return None
    args = last.get("args") or {}
    if args.get("target") != target:
        echo(f"Nothing to retry on target '{target}': the last run ({shown}) was on target "
             f"'{args.get('target')}' (runner retry -t {args.get('target')}).")
        return None
    prefix = f"model.{config.name}."
    again = [r["unique_id"][len(prefix):] for r in last.get("results") or []
             if r.get("status") in AGAIN and str(r.get("unique_id", "")).startswith(prefix)]
    tested = _failed_tests(last.get("results") or [], config.name)
    again += [name for name in tested if name not in again]
    if not again:
        export = any(r.get("status") == "error" for r in last.get("results") or []
                     if str(r.get("unique_id", "")).startswith("exposure."))
        echo(f"Nothing to retry: the last run on target '{target}' had no failed or skipped "
             "model" + (" (an export failed: runner export runs the exports again)." if export
                        else "."))
        return None
    echo(f"Retrying {len(again)} model(s) that failed or were skipped in the last run: "
         f"{', '.join(again)}")
    return build(root, replace(
        options, target=target, select=[*(f"result:{status}" for status in AGAIN), *tested],
        exclude=None,
        state=None, vars=_vars(args.get("vars") or {}, config.vars),
        full_refresh=bool(args.get("full_refresh")), fail_fast=bool(args.get("fail_fast")),
        threads=options.threads or args.get("threads"), exports=args.get("exports", True)),
        echo, bar, events)


def _failed_tests(results: list[dict[str, Any]], project: str) -> list[str]:
    """The models an error-severity data test of failed (their descendants were skipped), so
    they are tested again before the descendants are built."""
    found = {(r.get("adapter_response") or {}).get("model") for r in results
             if str(r.get("unique_id", "")).startswith(f"test.{project}.")
             and r.get("status") in ("fail", "error")
             and (r.get("adapter_response") or {}).get("severity") == "error"}
    return sorted(m for m in found if isinstance(m, str))


def _vars(last: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The last run's vars that differ from project.yml's (its ``--vars``), compared as the run
    results wrote them (a date as its ISO text, as ``var()`` renders it)."""
    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    return {k: v for k, v in last.items() if k not in defaults or text(defaults[k]) != text(v)}
