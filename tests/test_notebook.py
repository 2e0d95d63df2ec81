"""The example notebook runs top to bottom (nbclient, a real Jupyter kernel) on a copy of the
example project: build, explore in Spark SQL, train, score."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from test_example_project import copy_example

NOTEBOOK = Path(__file__).parents[1] / "examples" / "propensity.ipynb"


def test_the_example_notebook_runs_top_to_bottom(tmp_path, monkeypatch) -> None:
    root = copy_example(tmp_path / "example")
    monkeypatch.setenv("RUNNER_PROJECT", str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    build_view = outputs[0][0]["data"]["text/html"]
    assert build_view.startswith("<p><b>OK</b> on target <code>local</code>:")
    assert "<td>training_set</td><td>success</td>" in build_view
    printed = "".join(o.get("text", "") for o in outputs[2] if o.get("name") == "stdout")
    assert " users, " in printed and "test AUC 0." in printed
    auc = float(printed.split("test AUC ")[1].split()[0])
    assert auc > 0.58  # the synthetic data plants a signal (0.645 with scikit-learn 1.9)
    assert "propensity" in outputs[3][0]["data"]["text/plain"]
