"""Cold parse and compile in worker processes (``runner.project.processes``): the same project,
plan and errors as in one process, and the work really done by the workers."""

from __future__ import annotations

import shutil

import pytest

import runner.compile.compiler as compiler
import runner.project.model as model_module
from runner import BuildOptions, open_session
from runner.cli.main import main
from runner.errors import ProjectError
from runner.project import processes
from runner.project.config import load_project
from runner.project.loader import assemble

pytestmark = pytest.mark.skipif(processes.cores() < 2, reason="one core: no workers are started")


@pytest.fixture
def layered(project):
    """Thirty models over the two sources: staging, an ephemeral, aggregates, joins, a window,
    decimal arithmetic (types passed from parents to children) and a note-making aggregate."""
    project.model("stg", "SELECT order_id, user_id, CAST(amount AS DECIMAL(10, 2)) AS amount "
                         "FROM raw_orders")
    project.model("eph", "/* config\nmaterialized: ephemeral\n*/\n"
                         "SELECT user_id, upper(tier) AS tier FROM raw_users")
    for i in range(12):
        project.model(f"agg_{i:02d}", f"SELECT user_id, sum(amount * {i + 1}) AS total, "
                                      "count(*) AS n, avg(amount) AS mean FROM stg GROUP BY user_id")
    for i in range(12):
        project.model(f"feat_{i:02d}",
                      f"SELECT a.user_id, e.tier, a.total / a.n AS per_order, a.mean * 1.5 AS m, "
                      f"rank() OVER (PARTITION BY e.tier ORDER BY a.total) AS r "
                      f"FROM agg_{i:02d} a JOIN eph e ON e.user_id = a.user_id")
    for i in range(4):
        project.model(f"top_{i}", f"SELECT f.user_id, f.per_order + g.m AS score, "
                                  f"approx_count_distinct(f.tier) OVER () AS tiers "
                                  f"FROM feat_{i:02d} f JOIN feat_{i + 4:02d} g USING (user_id)")
    return project


@pytest.fixture
def few_tasks(monkeypatch):
    monkeypatch.setattr(processes, "MIN_TASKS", 4)
    monkeypatch.delenv(processes.ENV, raising=False)


def plan_of(project, monkeypatch) -> tuple[dict[str, tuple], list[str]]:
    """A cold plan, and the model files this process parsed to make it."""
    shutil.rmtree(project.root / "target" / "cache", ignore_errors=True)
    parsed_here: list[str] = []
    parse = model_module.parse_query

    def counting_parse(sql, path, dialect):
        parsed_here.append(path)
        return parse(sql, path, dialect)

    with monkeypatch.context() as patch:
        patch.setattr(model_module, "parse_query", counting_parse)
        session = open_session(project.root, BuildOptions())
    session.adapter.close()
    return {m.name: (m.physical, m.select_sql, tuple(m.statements),
                     {c: t.sql("spark") for c, t in m.columns.items()},
                     tuple(n.message for n in m.notes), tuple(sorted(m.reads)), m.compile_key)
            for m in session.plan}, parsed_here


def test_workers_make_the_plan_one_process_makes(layered, few_tasks, monkeypatch) -> None:
    parallel, parsed_here = plan_of(layered, monkeypatch)
    monkeypatch.setenv(processes.ENV, "1")
    serial, parsed_serially = plan_of(layered, monkeypatch)
    assert len(serial) == 30 and parallel == serial
    assert all(serial[f"top_{i}"][4] for i in range(4))  # notes made in a worker came back
    # one process parses each file once; with workers, they parse and compile, not this one
    assert sorted(parsed_serially) == sorted(set(parsed_serially)) and len(parsed_serially) == 30
    assert parsed_here == []


def test_workers_load_the_project_one_process_loads(layered, few_tasks, monkeypatch) -> None:
    def loaded():
        project = assemble(load_project(layered.root))
        return ({n: (m.path, m.config, project.keys[n], project.query_hashes[n])
                 for n, m in project.models.items()},
                {n: project.dag.parents(n) for n in project.models},
                set(project.queries._queries))  # noqa: SLF001
    models, parents, parsed_here = loaded()
    monkeypatch.setenv(processes.ENV, "1")
    assert loaded()[:2] == (models, parents)
    assert models["eph"][1].materialized == "ephemeral"
    assert parents["top_0"] == ["feat_00", "feat_04"]
    assert parsed_here == set()  # every file was parsed by a worker


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_first_problem_in_order_is_raised_with_or_without_workers(
        layered, few_tasks, monkeypatch, workers) -> None:
    monkeypatch.setenv(processes.ENV, workers)
    # problems found only when compiling (the loader has no objection to either file)
    layered.model("feat_03", "SELECT user_id, total, n AS TOTAL FROM agg_03")
    layered.model("feat_09", "SELECT user_id, n, mean AS N FROM agg_09")
    with pytest.raises(ProjectError) as err:
        plan_of(layered, monkeypatch)
    assert str(err.value).startswith("models/feat_03.sql:1:")
    assert "two columns named `TOTAL`" in str(err.value)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_problem_is_raised_as_in_one_process(layered, few_tasks, monkeypatch,
                                                    workers, capsys) -> None:
    monkeypatch.setenv(processes.ENV, workers)
    layered.model("agg_05", "SELECT user_id FROM stg WHERE (amount > 1")
    layered.model("feat_07", "SELECT * FROM agg_077")
    assert main(["ls", "--project-dir", str(layered.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: models/agg_05.sql:1:"), err


def test_a_worker_problem_falls_back_to_this_process(layered, few_tasks, monkeypatch) -> None:
    """A task that fails in a worker (here: every one) is compiled here, with the same plan."""
    monkeypatch.setenv(processes.ENV, "1")
    serial, _ = plan_of(layered, monkeypatch)
    monkeypatch.delenv(processes.ENV)
    monkeypatch.setattr(compiler, "_compile_one", lambda *args: None)  # every task fails
    fallen_back, parsed_here = plan_of(layered, monkeypatch)
    assert fallen_back == serial and len(parsed_here) == 30


def test_ctrl_c_stops_the_workers_and_the_command(layered) -> None:
    """Ctrl-C in a cold compile that runs worker processes: the command says so and exits 1,
    and no worker outlives it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    for i in range(150):  # enough cold work that the workers are still busy when it comes
        layered.model(f"more_{i:03d}", " UNION ALL ".join(
            f"SELECT user_id, sum(total * {k}) OVER (PARTITION BY user_id ORDER BY n) AS t, "
            f"CASE WHEN mean > {k} THEN 'hi' ELSE 'lo' END AS band FROM agg_{i % 12:02d}"
            for k in range(12)))
    env = {k: v for k, v in os.environ.items() if k != processes.ENV}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli.main", "compile"],
                            cwd=layered.root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers: list[str] = []
    deadline = time.monotonic() + 60
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        workers = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="],
                                 capture_output=True, text=True).stdout.split()
        time.sleep(0.05)
    assert workers, "no worker process was started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err.strip().splitlines()[-1] == "Error: interrupted", err
    assert "Compiled" not in out
    time.sleep(0.5)
    assert [pid for pid in workers if os.path.exists(f"/proc/{pid}")] == []
