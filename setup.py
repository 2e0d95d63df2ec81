"""The extras: ``emulator`` installs the Adobe API emulator package that lives in ``emulator/``
(a separate distribution, so the product install carries none of it); ``test`` adds what the
test suite needs (the emulator, pyspark with its Spark Connect client for the Spark reference tier
and the ``spark`` target, aepp for the client tier, jsonschema to validate the artifacts against
dbt's schemas, IPython for the ``%%runner`` cell magic, nbclient, ipykernel and scikit-learn to
run the example notebook, selenium to drive headless Chromium over the ``runner docs`` site);
``notebook`` what ``examples/propensity.ipynb`` needs; ``spark`` the
``type: spark`` target (a local session), ``spark-connect`` that target reaching a Spark Connect
server (``remote:``)."""

from pathlib import Path

from setuptools import setup

EMULATOR = f"aep-emulator @ {(Path(__file__).parent / 'emulator').resolve().as_uri()}"

setup(extras_require={
    "emulator": [EMULATOR],
    "spark": ["pyspark>=4,<5"],
    "spark-connect": ["pyspark[connect]>=4,<5"],
    "notebook": ["pandas>=2", "scikit-learn>=1.3", "ipykernel>=6"],
    "test": ["pytest>=8", "pandas>=2", "pyspark[connect]>=4,<5", "aepp==0.6.0",
             "hypothesis>=6.100", "jsonschema>=4.18", "ipython>=8", "ipykernel>=6",
             "nbclient>=0.9", "nbformat>=5", "scikit-learn>=1.3", "selenium>=4.10", EMULATOR],
})
