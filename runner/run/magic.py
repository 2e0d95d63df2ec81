"""The ``%%runner`` cell magic: a cell of the project's SQL run on its target, as a DataFrame.

    %load_ext runner
    %%runner --project-dir path/to/project --target local
    SELECT user_id, date_sub(as_of_date, 7) AS week_before FROM training_set

The cell is ``runner.connect(...).query(cell)``: loaded and translated like a model, model
names read through their current version. ``--project-dir`` defaults to the working directory.
IPython is imported only by IPython itself (this module is loaded by ``%load_ext``).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from runner.run.connection import connect


def parse_line(line: str) -> argparse.Namespace:
    """The options of a ``%%runner`` line; ProjectError-free (argparse prints its own usage)."""
    parser = argparse.ArgumentParser(prog="%%runner", add_help=False)
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--target", "-t", default=None)
    parser.add_argument("--arrow", action="store_true")
    return parser.parse_args(shlex.split(line))


def runner_cell(line: str, cell: str) -> Any:
    """Run ``cell`` on the project named by ``line``'s options; a DataFrame (or Arrow table)."""
    options = parse_line(line)
    with connect(options.project_dir, options.target) as project:
        return project.query(cell, arrow=options.arrow)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext runner``: register the ``%%runner`` cell magic."""
    ipython.register_magic_function(runner_cell, magic_kind="cell", magic_name="runner")
