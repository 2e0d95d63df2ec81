"""``runner emulate``: serve the emulator of Adobe's APIs in the foreground, or ``--detach`` it
(it returns once the emulator is up and its env file written, logging to a file), and ``--stop``
a detached one. The emulator is its own package (``aep_emulator``, the ``emulator`` extra).

``--synth`` creates the project's synthetic sources in the sandbox (the ``synth:`` options of
project.yml, the tenant field group named for the emulator's org), as XDM (nested), so a
project written for Data Distiller builds on the emulator as it would on Platform."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.errors import ProjectError, RunError

START_TIMEOUT = 60.0
SYNTH_START_TIMEOUT = 600.0  # --synth generates and loads the sources before it is up
STOP_TIMEOUT = 30.0


def emulate(args: argparse.Namespace) -> int:
    """Run the command: serve, detach, or stop."""
    if args.stop:
        return stop(_env_file(args))
    if args.detach:
        return detach(args)
    serve = _serve_function()
    kw = {k: v for k, v in (("sandbox", args.sandbox), ("landing", args.landing),
                            ("latency", args.latency)) if v}
    tables = synthetic_tables(args.project_dir) if args.synth else None
    from aep_emulator import EmulatorError

    try:
        serve(port=args.port, seed=args.seed, env_file=args.env_file, tables=tables, **kw)
    except EmulatorError as err:
        raise RunError(str(err)) from None
    return 0


def synthetic_tables(root: Path) -> Callable[[str], dict[str, Any]]:
    """The project's synthetic sources, by table name, for a tenant namespace (checked now:
    a project without generated sources is an error before the emulator starts)."""
    from runner.project.config import load_project
    from runner.sources import synth
    from runner.sources.prepare import check_generated, synth_options

    config = load_project(root)
    sources = [s for s in config.sources.values() if s.synthetic]
    if not sources:
        raise ProjectError("runner emulate --synth: no source in project.yml is generated "
                           "(declare one with 'synthetic: experience_events')")
    options = synth_options(config)

    check_generated(sources)

    def make(tenant: str) -> dict[str, Any]:
        tables = synth.generate(replace(options, tenant=tenant))
        return {synth.check_table_name(s.identifier): tables[s.synthetic] for s in sources}

    return make


def _serve_function():  # noqa: ANN202 - aep_emulator.serve, imported only when installed
    try:
        from aep_emulator import serve
    except ModuleNotFoundError as err:
        if err.name != "aep_emulator":
            raise
        raise ProjectError("runner emulate needs the emulator package, which the runner's own "
                           "install leaves out: pip install -e '.[emulator]' in the runner's "
                           "repository (or pip install -e ./emulator)") from None
    return serve


def _env_file(args: argparse.Namespace) -> Path:
    return args.env_file or Path("emu.env")


def _pid_file(env_file: Path) -> Path:
    return env_file.with_name(env_file.name + ".pid")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detach(args: argparse.Namespace) -> int:
    """Start the emulator in the background; return when its env file is written."""
    _serve_function()  # say how to install it before starting anything
    if args.synth:
        synthetic_tables(args.project_dir)  # a project without generated sources fails here
    env_file = _env_file(args)
    pid_file, log = _pid_file(env_file), args.log or env_file.with_name(env_file.stem + ".log")
    if pid_file.exists() and _alive(int(pid_file.read_text() or 0)):
        raise RunError(f"an emulator is already running (pid {pid_file.read_text().strip()}, "
                       f"{pid_file}); stop it with: runner emulate --stop")
    env_file.unlink(missing_ok=True)
    command = serve_command(args, env_file)
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + (SYNTH_START_TIMEOUT if args.synth else START_TIMEOUT)
    while not env_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            last = log.read_text(encoding="utf-8").strip().splitlines()[-1:] or ["no output"]
            raise RunError(f"the emulator did not start: {last[0]} (see {log})")
        time.sleep(0.1)
    pid_file.write_text(f"{proc.pid}\n")
    print(f"emulator running (pid {proc.pid}); its AEP_* variables: . ./{env_file}; "
          f"log: {log}; stop it with: runner emulate --stop", flush=True)
    return 0


def serve_command(args: argparse.Namespace, env_file: Path) -> list[str]:
    """The command a detached emulator runs: this one in the foreground, writing ``env_file``."""
    command = [sys.executable, "-m", "runner.cli.main", "emulate", "--env-file", str(env_file),
               "--port", str(args.port)]
    for flag, value in (("--seed", args.seed), ("--sandbox", args.sandbox),
                        ("--landing", args.landing), ("--latency", args.latency)):
        if value:
            command += [flag, str(value)]
    if args.synth:
        command += ["--synth", "--project-dir", str(Path(args.project_dir).resolve())]
    return command


def stop(env_file: Path) -> int:
    """Stop the emulator ``--detach`` started (it drops its database on the way out)."""
    pid_file = _pid_file(env_file)
    if not pid_file.exists():
        raise RunError(f"no detached emulator to stop ({pid_file} does not exist)")
    pid = int(pid_file.read_text().strip() or 0)
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            raise RunError(f"the emulator (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s")
    pid_file.unlink()
    env_file.unlink(missing_ok=True)
    print(f"emulator (pid {pid}) stopped", flush=True)
    return 0
