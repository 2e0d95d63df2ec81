"""The ``runner`` command: parse flags into options, call one library function, map the result
to dbt's exit codes (0 success, 1 a failed run, 2 a usage or project error).

Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

import yaml

from runner.cli.arguments import whole_number
from runner.cli.audience import add_audience_command
from runner.cli.datasets import add_datasets_command
from runner.cli.docs import add_docs_command
from runner.cli.lineage import add_lineage_command, print_labels
from runner.cli.scores import add_scores_command
from runner.errors import RunnerError
from runner.graph.selection import select
from runner.project.loader import Project
from runner.run.artifacts import write_compiled
from runner.run.bind import bind_check
from runner.run.build import build
from runner.run.clean import clean
from runner.run.events import EventLog
from runner.run.history import BuildHistory
from runner.run.options import DEFAULT_HEARTBEAT, DEFAULT_SAMPLE, BuildOptions
from runner.run.paths import TargetPaths
from runner.run.planner import plan
from runner.run.progress import BarFactory
from runner.run.session import compile_session, load, open_workspace
from runner.validation import yaml_problem
from runner.version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runner`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    args.events, log = None, None
    try:
        args.events, log = _event_log(args)
        return int(args.func(args) or 0)
    except RunnerError as err:
        if args.debug:
            traceback.print_exc()
        print(f"Error: {err}", file=sys.stderr)
        if args.events is not None:
            args.events.emit("error", unique_id=None, message=str(err), exit_code=err.exit_code)
        return err.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 1
    except OSError as err:  # the file system said no: name the path and what to do
        if args.debug:
            traceback.print_exc()
        print(f"Error: {_os_error(err)}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback only on --debug
        if args.debug:
            traceback.print_exc()
        print(f"Error: internal error: {type(err).__name__}: {err} (run with --debug for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1
    finally:
        if log is not None:
            log.close()


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (dbt's exit code 2) instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        print(f"Error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


_OS_HINTS = {errno.EACCES: "check its permissions", errno.EPERM: "check its permissions",
             errno.ENOSPC: "the disk is full: free some space",
             errno.EROFS: "the file system is read-only", errno.ENOENT: "it does not exist"}


def _os_error(err: OSError) -> str:
    """``<path>: <problem> (<what to do>)`` for an error of the file system."""
    path = err.filename
    if path is not None:
        try:
            path = Path(path).resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            pass
    hint = _OS_HINTS.get(err.errno or 0, "check the path, its permissions and the free space")
    where = f"{path}: " if path is not None else ""
    return f"{where}{err.strerror or err} ({hint})"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runner", description=(
        "Build SQL feature models on DuckDB (default), PostgreSQL or Adobe Data Distiller."))
    parser.add_argument("--version", action="version", version=f"runner {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--project-dir", type=Path, default=Path("."),
                        help="the project folder (default: current directory)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    selecting = _Parser(add_help=False, parents=[common])
    selecting.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
    selecting.add_argument("-s", "--select", nargs="+", metavar="SELECTOR",
                           help="dbt selectors: name, +name, name+, 2+name, @name, tag:x, "
                                "path:dir, state:modified+, result:error+")
    selecting.add_argument("--exclude", nargs="+", metavar="SELECTOR")
    selecting.add_argument("--vars", type=_yaml_mapping, metavar="YAML",
                           help="override project vars, e.g. --vars '{as_of_date: 2026-05-01}'")
    comparing = _Parser(add_help=False, parents=[selecting])
    comparing.add_argument("--state", type=Path, metavar="DIR",
                           help="an earlier build's artifacts (a copy of target/) for the "
                                "state:modified and result: selectors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _model_commands(sub, comparing, selecting, common)
    _other_commands(sub, common, selecting)
    add_docs_command(sub, common, _yaml_mapping)
    add_lineage_command(sub, common)
    add_datasets_command(sub, common, _yaml_mapping)
    add_scores_command(sub, common, _yaml_mapping)
    add_audience_command(sub, common, _yaml_mapping)
    return parser


def _model_commands(sub: Any, comparing: argparse.ArgumentParser,
                    selecting: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """build, test, retry, plan, compile, ls, graph, clean: the commands over a selection of
    models (``--state`` on all that select)."""
    p = sub.add_parser("build", parents=[comparing], help="materialize models, then export")
    p.add_argument("--threads", type=_positive, help="models run at once (default 4)")
    p.add_argument("--full-refresh", action="store_true", help="rebuild even if up to date")
    p.add_argument("--fail-fast", action="store_true", help="stop starting models after a failure")
    p.add_argument("--no-export", action="store_true", help="skip the exports step")
    p.add_argument("--verbose", action="store_true",
                   help="a line for each up-to-date model too (START and NO-OP)")
    p.add_argument("--heartbeat", type=_seconds, default=DEFAULT_HEARTBEAT, metavar="SECONDS",
                   help="name a model still running every SECONDS (default 30; 0: never)")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON object per event on stdout instead of text lines")
    p.add_argument("--log-path", type=Path, metavar="FILE",
                   help="also append the JSON events to FILE")
    p.add_argument("--dry-run", action="store_true",
                   help="run nothing: print what would run and why (runner plan)")
    p.set_defaults(func=_cmd_build)

    _test_command(sub, comparing)

    p = sub.add_parser("retry", parents=[common],
                       help="build again the models that failed or were skipped in the last run")
    p.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
    p.add_argument("--threads", type=_positive, help="models run at once (default: the last run's)")
    p.add_argument("--verbose", action="store_true",
                   help="a line for each up-to-date model too (START and NO-OP)")
    p.set_defaults(func=_cmd_retry)

    p = sub.add_parser("plan", parents=[comparing],
                       help="print what a build would run and why (runs nothing)")
    p.add_argument("--full-refresh", action="store_true",
                   help="plan a rebuild of every selected model")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("compile", parents=[comparing],
                       help="write the exact SQL each model runs to target/compiled/")
    p.add_argument("--print", action="store_true", help="also print the selected models' SQL")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("ls", parents=[comparing], help="list the selected models in build order")
    p.add_argument("--output", choices=["name", "path", "json"], default="name")
    p.add_argument("--labels", action="store_true", help="each model's labelled columns")
    p.set_defaults(func=_cmd_ls)

    p = sub.add_parser("graph", parents=[comparing], help="print the DAG")
    p.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    p.set_defaults(func=_cmd_graph)

    p = sub.add_parser("clean", parents=[selecting], help="drop model versions nothing uses")
    p.add_argument("--dry-run", action="store_true", help="list what would be dropped")
    p.set_defaults(func=_cmd_clean)


def _test_command(sub: Any, comparing: argparse.ArgumentParser) -> None:
    """``runner test``: every option of the test command is declared here."""
    p = sub.add_parser("test", parents=[comparing],
                       help="run the data tests of the selected models on what is built")
    p.add_argument("--threads", type=_positive, help="models tested at once (default 4)")
    p.add_argument("--verbose", action="store_true", help="a line for each passing test too")
    p.add_argument("--unit", action="store_true",
                   help="run the unit tests (unit_tests/*.yml) on in-memory DuckDB instead")
    p.add_argument("--leakage", action="store_true",
                   help="audit the point-in-time models (as_of) for reads at or after the cutoff")
    p.add_argument("--sample", type=_positive, default=DEFAULT_SAMPLE,
                   help="entities the audit copies from a target without local sources "
                        f"(default {DEFAULT_SAMPLE})")
    p.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    from runner.run.testing import run_data_tests

    options = _options(args, threads=args.threads, verbose=args.verbose,
                       sample=args.sample)
    codes = []
    if args.unit:
        from runner.run.unit_tests import run_unit_tests

        codes.append(run_unit_tests(args.project_dir, options, _echo, args.events).exit_code)
    if args.leakage:
        from runner.run.leakage import run_leakage_audit

        codes.append(run_leakage_audit(args.project_dir, options, _echo, args.events).exit_code)
    if codes:
        return max(codes)
    return run_data_tests(args.project_dir, options, echo=_echo, events=args.events).exit_code


def _other_commands(sub: Any, common: argparse.ArgumentParser,
                    selecting: argparse.ArgumentParser) -> None:
    """synth, export, debug, emulate."""
    p = sub.add_parser("synth", parents=[selecting],
                       help="generate the synthetic XDM sources into the local target, a sandbox "
                            "or files")
    p.add_argument("--users", type=_positive)
    p.add_argument("--days", type=_positive)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", type=Path, help="write Parquet files to this folder instead")
    p.add_argument("--force", action="store_true",
                   help="allow a Data Distiller target's sandbox named prod")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("export", parents=[selecting],
                       help="export the current versions of exported models")
    p.add_argument("--dry-run", action="store_true", help="print the plan of calls only")
    p.add_argument("--delete", action="store_true", help="remove what the exports created")
    p.add_argument("--force", action="store_true",
                   help="export again even if this version was already exported")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("debug", parents=[selecting], help="check the target step by step")
    p.set_defaults(func=_cmd_debug)

    p = sub.add_parser("emulate", parents=[common],
                       help="serve a local emulator of Adobe's APIs (for your own CI)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sandbox", help="sandbox name (default: a random emu-<hex>)")
    p.add_argument("--seed", type=Path, help="SQL file to run in the sandbox (raw sources)")
    p.add_argument("--synth", action="store_true",
                   help="create the project's synthetic sources in the sandbox (project.yml's "
                        "synth: options; XDM structs, maps and arrays kept)")
    p.add_argument("--env-file", type=Path,
                   help="write the AEP_* variables a data_distiller target needs to this file "
                        "(default with --detach and --stop: emu.env)")
    p.add_argument("--landing", type=Path, help="where exports land (default: a temp folder)")
    p.add_argument("--latency", type=_latency, default=0.0,
                   help="seconds added to every round trip (each HTTP request, each message to "
                        "the PostgreSQL endpoint), to feel a remote service's latency")
    p.add_argument("--detach", action="store_true",
                   help="run in the background; return once the env file is written")
    p.add_argument("--log", type=Path, help="with --detach: the log file (default emu.log)")
    p.add_argument("--stop", action="store_true", help="stop the emulator --detach started")
    p.set_defaults(func=_cmd_emulate)


def _options(args: argparse.Namespace, **extra: Any) -> BuildOptions:
    return BuildOptions(target=args.target, select=args.select, exclude=args.exclude,
                        vars=args.vars, state=getattr(args, "state", None), **extra)


def _cmd_build(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _cmd_plan(args)
    options = _options(args, threads=args.threads, full_refresh=args.full_refresh,
                       fail_fast=args.fail_fast, exports=not args.no_export,
                       verbose=args.verbose, heartbeat=args.heartbeat)
    as_json = args.log_format == "json"
    return build(args.project_dir, options, echo=_quiet if as_json else _echo,
                 bar=None if as_json else _bar(), events=args.events).exit_code


def _cmd_retry(args: argparse.Namespace) -> int:
    from runner.run.retry import retry

    options = BuildOptions(target=args.target, threads=args.threads, verbose=args.verbose)
    result = retry(args.project_dir, options, echo=_echo, bar=_bar(), events=args.events)
    return 0 if result is None else result.exit_code


def _cmd_plan(args: argparse.Namespace) -> int:
    result = plan(args.project_dir, _options(args, full_refresh=args.full_refresh), echo=_echo)
    for line in result.lines():
        _echo(line)
    return result.exit_code


def _quiet(line: str) -> None:
    """The text lines under ``--log-format json``: the events say it all."""


def _event_log(args: argparse.Namespace) -> tuple[EventLog | None, IO[str] | None]:
    """The JSON event sinks of ``--log-format json`` (stdout) and ``--log-path FILE`` (the
    file is returned too: ``main`` closes it)."""
    sinks: list[Callable[[str], None]] = []
    if getattr(args, "log_format", "text") == "json":
        sinks.append(_echo)
    path, log = getattr(args, "log_path", None), None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = path.open("a", encoding="utf-8", buffering=1)
        sinks.append(lambda line: print(line, file=log))
    return (EventLog(sinks) if sinks else None), log


def _bar() -> BarFactory | None:
    """The progress bar when stdout is a terminal; plain lines otherwise (logs, pipes, CI)."""
    if not sys.stdout.isatty():
        return None
    from runner.run.bar import terminal_bar

    return terminal_bar


def _echo(line: str) -> None:
    """print, except that a closed pipe (``runner build | head``) never stops the build."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _cmd_compile(args: argparse.Namespace) -> int:
    options = _options(args)
    workspace = open_workspace(args.project_dir, options, print)
    session = compile_session(workspace, options, offline=workspace.compiles_offline)
    try:
        errors, unchecked = bind_check(session)
    finally:
        session.adapter.close()
    chosen = [model for model in session.plan if model.name in session.plan.chosen]
    write_compiled(session)
    for model in chosen if args.print else []:
        print(f"-- {model.path} ({model.materialized})")
        for line in model.note_lines():
            print(f"-- note: {line}")
        print(";\n\n".join(model.pretty_statements(session.adapter.dialect)) + ";\n")
    for line in session.plan.note_lines():
        print(f"Note: {line}")
    if unchecked:
        print(f"Not bound on the engine (a table they read is not built yet): "
              f"{', '.join(unchecked)}")
    for message in errors.values():
        print(f"Error: {message}", file=sys.stderr)
    if errors:
        return 2
    print(f"Compiled {len(chosen)} model(s) for target '{session.target}' into "
          f"{session.paths.shown(session.paths.compiled)}")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    project, chosen = _selection(args)
    if args.labels:
        return print_labels(args.project_dir, args.target, args.vars, project.order(chosen))
    for name in project.order(chosen):
        model = project.models[name]
        if args.output == "path":
            print(model.path)
        elif args.output == "json":
            print(json.dumps({"name": name, "path": model.path,
                              "materialized": model.config.materialized,
                              "tags": list(model.config.tags),
                              "depends_on": project.dag.parents(name)}))
        else:
            print(name)
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    from runner.graph.render import render

    project, chosen = _selection(args)
    print(render(project, chosen, args.format))
    return 0


def _selection(args: argparse.Namespace) -> tuple[Project, set[str]]:
    """The project and the selected models (no connection needed: the target only names the
    run results that ``result:`` selectors read)."""
    project = load(args.project_dir, args.vars)
    target, _ = project.config.target(args.target)
    history = BuildHistory(project, target, TargetPaths(project.root, target), args.state)
    return project, select(args.select, args.exclude, project.dag, project.models, history)


def _cmd_clean(args: argparse.Namespace) -> int:
    clean(args.project_dir, _options(args), dry_run=args.dry_run)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from runner.cli.commands import run_synth

    return run_synth(args.project_dir, _options(args), users=args.users, days=args.days,
                     seed=args.seed, out=args.out, force=args.force, bar=_bar())


def _cmd_export(args: argparse.Namespace) -> int:
    from runner.cli.commands import run_export

    return run_export(args.project_dir, _options(args), dry_run=args.dry_run, delete=args.delete,
                      force=args.force)


def _cmd_debug(args: argparse.Namespace) -> int:
    from runner.cli.commands import run_debug

    return run_debug(args.project_dir, _options(args))


def _cmd_emulate(args: argparse.Namespace) -> int:
    from runner.cli.emulate import emulate

    return emulate(args)


def _yaml_mapping(text: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem, _, col = yaml_problem(err)
        where = f" at column {col}" if col else ""
        raise argparse.ArgumentTypeError(f"not valid YAML: {problem}{where} in {text!r}; write "
                                         "a mapping such as '{as_of_date: 2026-05-01}'") from None
    except ValueError as err:  # a date such as 2026-13-45
        raise argparse.ArgumentTypeError(f"not a valid value ({err}) in {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a YAML mapping such as '{{as_of_date: 2026-05-01}}', got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


_positive = whole_number(1)


def _latency(text: str) -> float:
    """``--latency``: seconds from 0 to 60 (a round trip slower than a minute is no test)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 60, got {text!r}")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

