"""Argument types shared by the commands: each turns a flag's text into its value or raises
``argparse.ArgumentTypeError`` with what was expected (argparse makes that a usage error).

    >>> whole_number(1)("4")
    4
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int) -> Callable[[str], int]:
    """The argument type of a whole number ``>= low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return value

    return parse


def column_names(text: str) -> list[str]:
    """The argument type of column names separated by commas (``a,b``)."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {text!r}")
    return names
