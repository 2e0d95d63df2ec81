"""``runner docs [--out DIR] [--serve [--port N]]``: write the project's static site
(``runner.run.docs``), and optionally serve it on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import functools
import http.server
import signal
from pathlib import Path
from typing import Any

from runner.errors import RunError
from runner.run.docs import write_site
from runner.run.options import BuildOptions

DEFAULT_PORT = 8080


def add_docs_command(sub: Any, common: argparse.ArgumentParser, vars_type: Any) -> None:
    """Register ``runner docs`` (``vars_type`` parses ``--vars`` as the other commands do)."""
    p = sub.add_parser("docs", parents=[common],
                       help="write a static HTML site of the project (models, DAG, last run)")
    p.add_argument("-t", "--target", help="target from project.yml (default: default_target)")
    p.add_argument("--vars", type=vars_type, metavar="YAML", help="override project vars")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write it (default target/docs)")
    p.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 (Ctrl-C stops)")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help=f"the port --serve listens on (default {DEFAULT_PORT}; 0: any free one)")
    p.set_defaults(func=run_docs)


def port_number(text: str) -> int:
    """A TCP port number, 0 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def run_docs(args: argparse.Namespace) -> int:
    page = write_site(args.project_dir, BuildOptions(target=args.target, vars=args.vars),
                      args.out)
    print(f"Wrote the docs site to {_shown(page.parent)} (open {_shown(page)})", flush=True)
    if args.serve:
        serve(page.parent, args.port)
    return 0


def serve(folder: Path, port: int) -> None:
    """Serve ``folder`` on 127.0.0.1:``port`` until interrupted (Ctrl-C, SIGINT or SIGTERM).

    Raises:
        RunError: the port is taken (or not ours to bind).
    """
    handler = functools.partial(_Quiet, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        raise RunError(f"cannot serve the docs on 127.0.0.1:{port}: {err.strerror or err}; "
                       "pick another --port (0: any free one)") from None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does
    with server:
        print(f"Serving the docs at http://127.0.0.1:{server.server_address[1]}/ "
              "(Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("Stopped serving the docs", flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """The standard handler, without a log line on stderr per request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def _shown(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path
