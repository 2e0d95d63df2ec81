"""The extras: ``emulator`` installs the Adobe API emulator package that lives in ``emulator/``
(a separate distribution, so the product install carries none of it); ``test`` adds what the
test suite needs (the emulator, pyspark for the Spark reference tier, aepp for the client tier)."""

from pathlib import Path

from setuptools import setup

EMULATOR = f"aep-emulator @ {(Path(__file__).parent / 'emulator').resolve().as_uri()}"

setup(extras_require={
    "emulator": [EMULATOR],
    "test": ["pytest>=8", "pandas>=2", "pyspark>=4,<5", "aepp==0.6.0", "hypothesis>=6.100",
             EMULATOR],
})
