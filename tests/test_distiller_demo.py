"""The README's emulated Data Distiller walk-through, end to end, in-process.

examples/distiller_demo is built on a data_distiller target whose hosts and credential come
from the emulator's environment (as `runner emulate --env-file` writes them); the training set
is exported through Flow Service to the emulated Data Landing Zone, and the landed Parquet is
read back and compared row for row with the table in the engine. Values are checked against a
plain PostgreSQL query over the raw tables, written independently of the models.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runner import BuildOptions, build
from aep_emulator import Emulator

from emulator_fixtures import engine_rows

DEMO = Path(__file__).resolve().parent.parent / "examples" / "distiller_demo"
pytestmark = pytest.mark.postgres

EXPECTED = """
SELECT c.user_id, upper(c.tier) AS tier,
       count(e.*) FILTER (WHERE e.ts < '2026-05-31') AS events,
       count(e.*) FILTER (WHERE e.ts < '2026-05-31' AND e.event_type = 'purchase') AS purchases,
       bool_or(e.event_type = 'subscribe' AND e.ts >= '2026-05-31' AND e.ts < '2026-06-30')
FROM customers c LEFT JOIN web_events e USING (user_id)
WHERE c.signup_date < '2026-05-31'
GROUP BY c.user_id, c.tier ORDER BY c.user_id
"""


@pytest.fixture
def demo(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    emulator.run_sql((DEMO / "seed.sql").read_text())
    for key, value in emulator.environment().items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "distiller_demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("target"))
    return root


def test_demo_builds_exports_and_lands_equal_rows(emulator: Emulator, demo: Path) -> None:
    lines: list[str] = []
    result = build(demo, BuildOptions(), echo=lines.append)
    assert result.ok, "\n".join(lines)
    assert [r.status for r in result.results] == ["success"] * 7
    training = result.by_name()["training_set"]
    assert training.query_id and training.dataset_id

    got = engine_rows(emulator, "SELECT user_id, tier, events, purchases, subscribed "
                                 "FROM training_set ORDER BY user_id")
    expected = engine_rows(emulator, EXPECTED)
    assert len(got) == len(expected) == 171
    assert [(u, t, e, p, s) for u, t, e, p, s in got] == [
        (u, t, e, p, 1 if s else 0) for u, t, e, p, s in expected]

    (export,) = result.exports
    assert export.status == "success" and export.records == 171 and export.files == 1
    landed = sorted((emulator.landing_dir() / export.path).rglob("*.gz.parquet"))
    assert len(landed) == 1 and f"/{training.dataset_id}/exportTime=" in landed[0].as_posix()
    files = pq.read_table(landed[0]).to_pylist()
    table = emulator.read_table(training.physical).to_pylist()
    key = lambda row: row["user_id"]  # noqa: E731
    assert sorted(files, key=key) == sorted(table, key=key)

    calls = [f"{r.method} {r.path}" for r in emulator.requests
             if r.path.startswith("/data/") and r.json and r.json.get("name") == "training_set"]
    assert calls == ["POST /data/foundation/query/queries"]  # one CTAS batch query per model

    again = build(demo, BuildOptions(), echo=lines.append)
    assert [r.status for r in again.results] == ["noop"] * 7
    assert again.exports[0].message.startswith("up to date")
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert sum(r.path.endswith("/queries") for r in posts) == 14  # 7 CTAS + 7 pointers, once


def test_runner_emulate_command_serves_the_walkthrough(tmp_path: Path) -> None:
    """`runner emulate --seed --env-file`, then `runner build` in another process, then SIGTERM
    stops the emulator and drops its sandbox database (the README's steps, as commands)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psycopg2

    from emulator_fixtures import PG_DSN, require_postgres

    require_postgres()
    env_file, landing = tmp_path / "emu.env", tmp_path / "landing"
    sandbox = f"emu-test{os.getpid()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", "emulate", "--sandbox", sandbox, "--seed",
         str(DEMO / "seed.sql"), "--env-file", str(env_file), "--landing", str(landing)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
        assert env_file.exists(), server.stdout.read() if server.poll() is not None else "timeout"
        variables = dict(line.removeprefix("export ").split("=", 1)
                         for line in env_file.read_text().splitlines())
        variables = {k: v.strip("'") for k, v in variables.items()}
        assert variables["AEP_SANDBOX"] == sandbox
        root = tmp_path / "demo"
        shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("target"))
        proc = subprocess.run([sys.executable, "-m", "runner.cli.main", "build", "--project-dir",
                               str(root)], capture_output=True, text=True, timeout=300,
                              env={**env, **variables})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Done. PASS=7 NO-OP=0 ERROR=0 SKIP=0 TOTAL=7" in proc.stdout
        assert len(list(landing.rglob("*.gz.parquet"))) == 1
        assert variables["AEP_CLIENT_SECRET"] not in proc.stdout + proc.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    conn = psycopg2.connect(PG_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (f"{sandbox}:all",))
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


def test_a_new_batch_in_a_source_rebuilds_what_reads_it(emulator: Emulator, demo: Path) -> None:
    from aep_emulator.catalog import catalog

    lines: list[str] = []
    assert build(demo, BuildOptions(exports=False), echo=lines.append).ok
    emulator.run_sql("INSERT INTO web_events VALUES "
                     "('c001', 'purchase', TIMESTAMP '2026-05-01 10:00:00', 49.0)")
    catalog(emulator).touch("web_events")  # a new batch landed: Catalog's `updated` moves
    again = build(demo, BuildOptions(exports=False), echo=lines.append)
    statuses = {r.name: r.status for r in again.results}
    assert statuses == {"stg_customers": "noop", "stg_events": "success", "event_counts": "success",
                        "labels": "success", "purchases": "success", "recency": "success",
                        "training_set": "success"}
    assert engine_rows(emulator, "SELECT purchases FROM training_set WHERE user_id = 'c001'") == [
        (engine_rows(emulator, "SELECT count(*) FROM web_events WHERE user_id = 'c001' AND "
                                "event_type = 'purchase' AND ts < '2026-05-31'")[0][0],)]


def test_existence_checks_use_table_exists(emulator: Emulator, demo: Path) -> None:
    """The adapter asks Data Distiller's documented table_exists('name') (contract §3.1)."""
    from runner.adapters.data_distiller import DataDistillerAdapter
    from runner.project.config import load_project

    _, block = load_project(demo).target("emulated")
    with DataDistillerAdapter("emulated", block, demo) as adapter:
        assert adapter.fetch("SELECT table_exists('customers')") == [(True,)]
        assert adapter.exists("web_events") is True
        assert adapter.exists("no_such_table") is False


def test_the_readme_walkthrough_runs_as_pasted(tmp_path: Path) -> None:
    """The README's emulated Data Distiller block, pasted into bash in a copy of the repository,
    succeeds: the emulator detaches once its env file is written, the demo builds and exports,
    and `runner emulate --stop` ends it and drops its database."""
    import os
    import re
    import subprocess
    import sys

    import psycopg2

    from emulator_fixtures import PG_DSN, require_postgres

    require_postgres()
    readme = (DEMO.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Building against the emulated Data Distiller", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "--detach" in block and "runner emulate --stop" in block
    repo = tmp_path / "repo"
    shutil.copytree(DEMO, repo / "examples" / "distiller_demo",
                    ignore=shutil.ignore_patterns("target"))
    bin_dir = str(Path(sys.executable).parent)  # `runner` and `python` of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    env = {k: v for k, v in env.items() if not k.startswith("AEP_")}
    proc = subprocess.run(["bash", "-e", "-c", block], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "emulator running (pid" in out and "All checks passed." in out
    assert "Done. PASS=7 NO-OP=0 ERROR=0 SKIP=0 TOTAL=7" in out
    parquet = [line for line in out.splitlines() if line.endswith(".parquet")]
    assert len(parquet) == 1 and parquet[0].startswith("emu-landing/")
    assert re.search(r"emulator \(pid \d+\) stopped", out)
    assert not (repo / "emu.env").exists() and not (repo / "emu.env.pid").exists()
    log = (repo / "emu.log").read_text()
    assert "Adobe Platform emulator at http://127.0.0.1:" in log
    sandbox = re.search(r"sandbox:\s+(\S+)", log).group(1)
    conn = psycopg2.connect(PG_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (f"{sandbox}:all",))
            assert cur.fetchone() == (0,)  # --stop ended it and it dropped its database
    finally:
        conn.close()


def test_a_detached_emulator_takes_the_latency_it_is_given(tmp_path: Path) -> None:
    """`runner emulate --detach --latency S` passes the latency on: a request to it takes at
    least S, one to an emulator started without it well under; `--stop` ends both."""
    import os
    import re
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from emulator_fixtures import require_postgres

    require_postgres()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    runner = [sys.executable, "-m", "runner.cli.main", "emulate"]

    def round_trip(latency: str | None) -> float:
        folder = tmp_path / f"latency-{latency}"
        folder.mkdir()
        extra = ["--latency", latency] if latency else []
        started = subprocess.run([*runner, "--detach", *extra], cwd=folder, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        try:
            url = re.search(r"AEP_IMS_HOST='([^']+)'", (folder / "emu.env").read_text()).group(1)
            began = time.monotonic()
            try:  # any answer will do, even a refusal: the delay comes before routing
                urllib.request.urlopen(f"{url}/no-such-path", timeout=30).read()
            except urllib.error.HTTPError:
                pass
            return time.monotonic() - began
        finally:
            stopped = subprocess.run([*runner, "--stop"], cwd=folder, env=env,
                                     capture_output=True, text=True, timeout=120)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    assert round_trip("1.5") >= 1.5
    assert round_trip(None) < 1.5
