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
