"""The smaller commands: ``synth``, ``export`` and ``debug``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from destinations import BuiltDataset
from runner.errors import ProjectError, RunnerError
from runner.run.exports import export_current, export_line
from runner.run.options import BuildOptions
from runner.run.progress import BarFactory, Echo
from runner.run.session import open_workspace
from runner.run.state import target_lock


def run_synth(root: Path, options: BuildOptions, *, users: int | None = None,
              days: int | None = None, seed: int | None = None, out: Path | None = None,
              force: bool = False, echo: Echo = print, bar: BarFactory | None = None) -> int:
    """Generate the synthetic XDM tables into the local target, a Platform sandbox (a Data
    Distiller target: schemas, datasets and batches) or Parquet files in ``out``; ``bar``
    shows the users simulated as a progress bar; ``force`` allows the sandbox ``prod``."""
    from runner.sources import synth
    from runner.sources.prepare import load_synthetic, synth_options

    workspace = open_workspace(root, options)
    project, target, adapter = workspace.project, workspace.target, workspace.adapter
    synth_opts = synth_options(project.config, users=users, days=days, seed=seed)
    if out is not None:
        with _users_bar(bar, synth_opts.users) as on_user:
            tables = synth.generate(synth_opts, on_user)
        for path in synth.write_files(tables, out):
            echo(f"wrote {path}")
        return 0
    client = None if adapter.creates_local_sources else adapter.platform
    if not adapter.creates_local_sources and client is None:
        raise ProjectError(f"runner synth writes into a DuckDB target or a Data Distiller "
                           f"sandbox; '{target}' is {adapter.type} (use --out DIR for Parquet "
                           "files)")
    if force and client is None:
        raise ProjectError("runner synth --force allows a Data Distiller target's sandbox "
                           f"named prod; '{target}' is {adapter.type}: drop --force")
    sources = [s for s in project.config.sources.values() if s.synthetic]
    if not sources:
        raise ProjectError("no source in project.yml is generated (declare one with "
                           "'synthetic: experience_events'), or use --out DIR for Parquet files")
    if client is not None:
        from runner.run.synth_target import check_sandbox, synth_to_platform

        check_sandbox(client.credentials.sandbox, force)  # before any call
        try:  # REST calls only: no Query Service session is opened
            with _users_bar(bar, synth_opts.users) as on_user:
                synth_to_platform(workspace, sources, synth_opts, force=force, echo=echo,
                                  on_user=on_user)
        finally:
            client.close()
        echo(f"The next `runner build -t {target}` builds the models on them.")
        return 0
    with adapter, _users_bar(bar, synth_opts.users) as on_user:
        load_synthetic(adapter, sources, synth_opts, echo, on_user)
    echo("The next `runner build` rebuilds the models that read them.")
    if any(m.config.incremental for m in project.models.values()):
        echo("Incremental models only append newer rows: `runner build --full-refresh` "
             "replaces theirs with the regenerated data.")
    return 0


@contextmanager
def _users_bar(bar: BarFactory | None, users: int) -> Iterator[Callable[[], None] | None]:
    """A callback advancing a bar of ``users`` (None without a bar); the bar closes after the
    last user (before the lines that follow) or when the work ends."""
    if bar is None:
        yield None
        return
    shown, done = bar(users, "synth", "user"), [0]

    def advance() -> None:
        done[0] += 1
        shown.advance("")
        if done[0] == users:
            shown.close()

    try:
        yield advance
    finally:
        if done[0] != users:
            shown.close()


def run_export(root: Path, options: BuildOptions, *, dry_run: bool = False,
               delete: bool = False, force: bool = False, echo: Echo = print) -> int:
    """Export the current versions of the exported models, without building (nothing is
    compiled: the target's state says which version of each model is current)."""
    workspace = open_workspace(root, options, echo)
    adapter = workspace.adapter
    if not workspace.exports:
        raise ProjectError("no exports: declared in project.yml; add one (see README, Exports)")
    with target_lock(workspace.paths), adapter:
        state = workspace.state()
        datasets = {
            name: BuiltDataset(model=name, relation=entry.current,
                               fingerprint=entry.fingerprint or "", dataset_id=entry.dataset_id)
            for name, entry in state.models.items()
            if entry.current and adapter.exists(entry.current)}
        results = export_current(workspace, datasets, echo, dry_run=dry_run, delete=delete,
                                 force=force)
    for result in results:
        echo(export_line(result))
        for call in result.plan if dry_run else []:
            echo(f"  {call}")
    return 1 if any(r.status == "error" for r in results) else 0


def run_debug(root: Path, options: BuildOptions, echo: Echo = print) -> int:
    """Check the project, the target's configuration, the connection and ``SELECT 1``."""
    try:
        workspace = open_workspace(root, options)
    except RunnerError as err:
        echo(f"project and target config ... FAIL: {err}")
        return err.exit_code
    adapter = workspace.adapter
    echo(f"project and target config ... OK (target '{workspace.target}', {adapter.type})")
    steps = [*adapter.debug_steps(), ("connection", adapter.open),
             ("SELECT 1", lambda: adapter.fetch("SELECT 1"))]
    try:
        for label, step in steps:
            try:
                step()  # type: ignore[operator]
            except RunnerError as err:
                echo(f"{label} ... FAIL: {err}")
                return 1
            echo(f"{label} ... OK")
    finally:
        adapter.close()
    echo("All checks passed.")
    return 0
