"""``runner clean``: drop the model versions nothing points at any more, and the parse and
compile cache (``target/cache``, rebuilt by the next command)."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.run.materialize import drop_old_versions
from runner.run.options import BuildOptions
from runner.run.progress import Echo
from runner.run.session import open_workspace
from runner.run.state import target_lock


def clean(root: str | Path, options: BuildOptions | None = None, echo: Echo = print, *,
          dry_run: bool = False) -> list[str]:
    """Drop every model version no pointer and no current version uses, and remove the parse
    and compile cache (``runner clean``).

    Needs only the target's state and a connection: nothing is compiled, so an unrelated
    problem in a model does not stop a clean.
    """
    workspace = open_workspace(root, options or BuildOptions())
    with target_lock(workspace.paths), workspace.adapter:
        dropped = drop_old_versions(workspace.adapter, workspace.state(), keep=1,
                                    dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    for name in dropped:
        echo(f"{verb} {name}")
    if not dry_run:
        echo(f"Dropped {len(dropped)} old version(s) on target '{workspace.target}'.")
    elif not dropped:
        echo(f"Nothing to drop on target '{workspace.target}': every version is in use.")
    cache = workspace.paths.cache
    if cache.is_dir():
        entries = sum(1 for p in cache.rglob("*") if p.is_file())
        echo(f"{'would remove' if dry_run else 'removed'} the parse and compile cache "
             f"({cache.relative_to(workspace.paths.root)}, {entries} entries)")
        if not dry_run:
            shutil.rmtree(cache, ignore_errors=True)
    return dropped
