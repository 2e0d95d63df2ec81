"""The selector methods that compare with an earlier build: ``state:modified`` against the
manifest in ``--state DIR`` (dbt's way), ``result:<status>`` against the last run's results.

    raw_orders -> stg -> a -> c -> e
                     \\-> b -/
    raw_users  -> users -> d        (d reads users and a)
"""

from __future__ import annotations

import json
import shutil

import pytest

from runner.cli.main import main

MODELS = {
    "stg": "SELECT order_id, user_id, amount FROM raw_orders",
    "users": "/* config\nmaterialized: view\n*/\nSELECT user_id, tier FROM raw_users",
    "a": "SELECT order_id, user_id, safe_double(amount) AS amount FROM stg",
    "b": "SELECT order_id, amount FROM stg WHERE amount > var('min_amount')",
    "c": "SELECT a.order_id, a.amount FROM a JOIN b ON a.order_id = b.order_id",
    "d": "SELECT users.user_id, users.tier, a.amount FROM users "
         "JOIN a ON users.user_id = a.user_id",
    "e": "SELECT * FROM c",
}


@pytest.fixture
def graph(project):
    project.write("macros/double.sql", "CREATE FUNCTION safe_double(x) RETURN x * 2;")
    for name, sql in MODELS.items():
        project.model(name, sql)
    return project


def run(project, *args: str) -> int:
    return main([*args, "--project-dir", str(project.root)])


def ls(project, capsys, *args: str) -> list[str]:
    assert run(project, "ls", *args) == 0
    return capsys.readouterr().out.split()


@pytest.fixture
def state(graph, tmp_path, capsys):
    """The project built, and its target/ artifacts copied to a folder for --state."""
    assert run(graph, "build") == 0
    folder = tmp_path / "prod-artifacts"
    folder.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(graph.root / "target" / name, folder / name)
    capsys.readouterr()
    return str(folder)


def test_nothing_changed_selects_nothing_and_a_build_of_it_runs_nothing(graph, state,
                                                                          capsys) -> None:
    assert ls(graph, capsys, "-s", "state:modified+", "--state", state) == []
    assert run(graph, "build", "-s", "state:modified+", "--state", state) == 0
    assert "Done. PASS=0 NO-OP=0 ERROR=0 SKIP=0 TOTAL=0" in capsys.readouterr().out


def test_state_modified_and_its_graph_operators(graph, state, capsys) -> None:
    graph.model("a", MODELS["a"].replace("safe_double(amount)", "amount * 3"))
    assert ls(graph, capsys, "-s", "state:modified", "--state", state) == ["a"]
    assert ls(graph, capsys, "-s", "state:modified+", "--state", state) == ["a", "c", "e", "d"]
    assert ls(graph, capsys, "-s", "+state:modified", "--state", state) == ["stg", "a"]
    assert ls(graph, capsys, "-s", "state:modified+1", "--state", state) == ["a", "c", "d"]
    assert ls(graph, capsys, "-s", "state:modified+", "--exclude", "d", "--state", state) == [
        "a", "c", "e"]


def test_build_state_modified_plus_runs_exactly_the_changed_model_and_descendants(
        graph, state, capsys) -> None:
    graph.model("b", MODELS["b"].replace(">", ">="))
    assert run(graph, "build", "-s", "state:modified+", "--state", state) == 0
    results = json.loads((graph.root / "target/run_results.json").read_text())["results"]
    assert [(r["unique_id"], r["status"]) for r in results] == [
        ("model.demo.b", "success"), ("model.demo.c", "success"), ("model.demo.e", "success")]


def test_formatting_is_not_a_modification_but_new_models_config_macros_and_vars_are(
        graph, state, capsys) -> None:
    graph.model("e", "-- the last step\nselect *\n  from c   /* all of it */\n")
    assert ls(graph, capsys, "-s", "state:modified", "--state", state) == []
    graph.model("f", "SELECT * FROM e")
    graph.model("users", MODELS["users"].replace("view", "table"))
    assert ls(graph, capsys, "-s", "state:modified", "--state", state) == ["f", "users"]
    graph.write("macros/double.sql", "CREATE FUNCTION safe_double(x) RETURN x + x;")
    assert ls(graph, capsys, "-s", "state:modified", "--state", state) == ["a", "f", "users"]
    assert ls(graph, capsys, "-s", "state:modified", "--state", state,
              "--vars", "{min_amount: 11}") == ["a", "b", "f", "users"]


def test_a_node_the_earlier_build_did_not_compile_is_compared_by_its_file(graph, tmp_path,
                                                                           capsys) -> None:
    assert run(graph, "build", "-s", "stg") == 0  # the manifest records inputs for stg only
    folder = tmp_path / "partial"
    shutil.copytree(graph.root / "target", folder)
    capsys.readouterr()
    assert ls(graph, capsys, "-s", "state:modified", "--state", str(folder)) == []
    graph.model("e", "select * from c")  # only the layout changed, but e's record is its file
    graph.model("stg", "select order_id, user_id, amount from raw_orders")
    assert ls(graph, capsys, "-s", "state:modified", "--state", str(folder)) == ["e"]


@pytest.fixture
def failed(graph, capsys):
    """A build where b fails: c and e are skipped."""
    graph.model("b", "SELECT nope FROM stg")
    assert run(graph, "build") == 1
    capsys.readouterr()
    return graph


def test_result_selectors_read_the_last_run(failed, capsys) -> None:
    assert ls(failed, capsys, "-s", "result:error") == ["b"]
    assert ls(failed, capsys, "-s", "result:error+") == ["b", "c", "e"]
    assert ls(failed, capsys, "-s", "result:skipped") == ["c", "e"]
    assert ls(failed, capsys, "-s", "result:success") == ["stg", "a", "users", "d"]
    assert ls(failed, capsys, "-s", "result:error+,result:skipped") == ["c", "e"]


def test_result_selectors_read_state_dir_when_given(failed, tmp_path, capsys) -> None:
    folder = tmp_path / "earlier"
    shutil.copytree(failed.root / "target", folder)
    failed.model("b", MODELS["b"])
    assert run(failed, "build") == 0
    capsys.readouterr()
    assert ls(failed, capsys, "-s", "result:error") == []
    assert ls(failed, capsys, "-s", "result:error+", "--state", str(folder)) == ["b", "c", "e"]


def test_build_result_error_plus_reruns_the_failure_and_what_it_skipped(failed, capsys) -> None:
    failed.model("b", MODELS["b"])
    assert run(failed, "build", "-s", "result:error+") == 0
    results = json.loads((failed.root / "target/run_results.json").read_text())["results"]
    assert [(r["unique_id"], r["status"]) for r in results] == [
        ("model.demo.b", "success"), ("model.demo.c", "success"), ("model.demo.e", "success")]


@pytest.mark.parametrize(("args", "message"), [
    (["-s", "state:modified", "--state", "{missing}"],
     "Error: --state {missing}: does not exist; point it at the folder of an earlier build's "
     "artifacts (a copy of its target/)\n"),
    (["-s", "state:modified", "--state", "{empty}"],
     "Error: --state {empty}: holds no manifest.json; point it at the folder of an earlier "
     "build's artifacts (a copy of its target/)\n"),
    (["-s", "state:modified+"],
     "Error: state:modified compares with an earlier build: pass --state DIR, a folder holding "
     "its manifest.json (such as a copy of target/)\n"),
    (["-s", "result:error"],
     "Error: the result: selectors read the last run's target/run_results.json, and there is "
     "none yet: run a build first\n"),
    (["-s", "state:changed"],
     "Error: --select: unknown state selector 'state:changed' (use state:modified)\n"),
    (["-s", "result:failed"],
     "Error: --select: unknown result selector 'result:failed' (use result: with one of error, "
     "skipped, success, no-op)\n"),
])
def test_usage_errors_are_one_line_exit_2(graph, tmp_path, capsys, args, message) -> None:
    paths = {"missing": str(tmp_path / "nowhere"), "empty": str(tmp_path)}
    for command in ("ls", "build", "plan"):
        assert run(graph, command, *[a.format(**paths) for a in args]) == 2
        assert capsys.readouterr().err == message.format(**paths)
    assert not (graph.root / "target/run_results.json").exists()  # nothing ran


def test_results_of_another_target_are_refused(failed, capsys) -> None:
    text = (failed.root / "project.yml").read_text()
    failed.write("project.yml", text + "targets:\n  local: {type: duckdb}\n"
                                       "  other: {type: duckdb, path: target/other.duckdb}\n")
    assert run(failed, "ls", "-s", "result:error", "-t", "other") == 2
    assert capsys.readouterr().err == (
        "Error: target/run_results.json is of a run on target 'local', not 'other'; select on "
        "that target (-t local) or build on this one first\n")
