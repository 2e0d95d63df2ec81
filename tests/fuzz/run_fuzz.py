"""Run the fuzz properties longer than the suite does: `python tests/fuzz/run_fuzz.py --examples 5000`.

Each property gets that many examples (the suite gives it 80); a failure prints the smallest
input Hypothesis found, which then becomes a case of tests/test_bad_input.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property")
    args = parser.parse_args()
    os.environ["RUNNER_FUZZ_EXAMPLES"] = str(args.examples)
    return pytest.main(["-q", "-p", "no:cacheprovider", str(Path(__file__).with_name("test_fuzz.py"))])


if __name__ == "__main__":
    sys.exit(main())
