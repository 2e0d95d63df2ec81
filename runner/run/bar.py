"""The progress bar of a terminal or a notebook: counts, elapsed time and ETA, by ``tqdm``
(``tqdm.auto`` draws a widget in Jupyter and text in a terminal).

    >>> build(Path("."), BuildOptions(), bar=terminal_bar)    # doctest: +SKIP
     42%|████▏     | 420/1000 [00:31<00:43, 13.4model/s, training_set]

Lines written while it runs (``Bar.write``) appear above it. The CLI uses it only when stdout is
a terminal; otherwise every command prints plain lines.
"""

from __future__ import annotations

import sys
from typing import IO, Any


class TerminalBar:
    """A ``tqdm`` bar over ``total`` items (the ``runner.run.progress.Bar`` protocol)."""

    def __init__(self, total: int, description: str, unit: str,
                 file: IO[str] | None = None) -> None:
        from tqdm.auto import tqdm

        self._tqdm: Any = tqdm
        self._bar = tqdm(total=total, desc=description, unit=f" {unit}", file=file or sys.stdout,
                         dynamic_ncols=True, leave=True,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                    "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")

    def write(self, line: str) -> None:
        self._tqdm.write(line, file=self._bar.fp)

    def advance(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=False)
        self._bar.update(1)

    def running(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        self._bar.close()


def terminal_bar(total: int, description: str, unit: str) -> TerminalBar:
    """A ``BarFactory`` for ``build`` and ``synth``."""
    return TerminalBar(total, description, unit)
