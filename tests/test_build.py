"""End-to-end builds on real DuckDB: values, no-op rebuilds, rebuild safety, selection, artifacts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from runner import BuildOptions, build, clean
from runner.adapters.duckdb import DuckDBAdapter
from runner.errors import RunError


@pytest.fixture
def shop(project):
    """stg_orders (view) -> big_orders (table) -> summary (table) <- top_user (ephemeral);
    users_clean (table) reads raw_users, independent of the orders branch until summary."""
    project.write("macros/m.sql",
                  "CREATE FUNCTION safe_ratio(n, d) RETURN CASE WHEN d = 0 THEN NULL ELSE n / d END;")
    project.model("stg_orders", """
        /* config
        materialized: view
        tags: [staging]
        */
        SELECT order_id, user_id, amount FROM raw_orders -- FROM ignored_in_comment
        """, folder="models/staging")
    project.model("users_clean", "SELECT user_id, upper(tier) AS tier FROM raw_users",
                  folder="models/staging")
    project.model("big_orders", """
        WITH stg_orders AS (SELECT * FROM STG_ORDERS WHERE amount >= var('min_amount'))
        SELECT user_id, count(*) AS n_orders, sum(amount) AS total,
               safe_ratio(sum(amount), count(*)) AS avg_amount
        FROM stg_orders GROUP BY user_id
        """, folder="models/features")
    project.model("top_user", """
        /* config
        materialized: ephemeral
        */
        SELECT user_id FROM big_orders ORDER BY total DESC LIMIT 1
        """, folder="models/features")
    project.model("summary", """
        SELECT b.user_id, u.tier, b.n_orders, b.total, b.avg_amount,
               b.user_id IN (SELECT user_id FROM top_user) AS is_top
        FROM big_orders b JOIN users_clean u ON b.user_id = u.user_id
        """)
    return project


def _build(project, echo=None, **options):
    lines: list[str] = []
    result = build(project.root, BuildOptions(**options), echo=echo or lines.append)
    return result, lines


def test_end_to_end_values_and_artifacts(shop) -> None:
    result, lines = _build(shop)
    assert result.ok and result.exit_code == 0
    statuses = {r.name: r.status for r in result.results}
    assert statuses == {"stg_orders": "success", "users_clean": "success",
                        "big_orders": "success", "summary": "success"}
    assert shop.sql("SELECT user_id, tier, n_orders, total, avg_amount, is_top FROM summary "
                    "ORDER BY user_id") == [
        ("u1", "GOLD", 1, 20.0, 20.0, False),
        ("u2", "SILVER", 1, 30.0, 30.0, True),
        ("u3", "GOLD", 1, 12.5, 12.5, False),
    ]
    rows = {r.name: r.rows for r in result.results}
    assert rows == {"stg_orders": None, "users_clean": 3, "big_orders": 3, "summary": 3}
    # ephemeral models never become relations; every other model has a pointer view + version
    relations = dict(shop.sql("SELECT table_name, table_type FROM information_schema.tables"))
    physical = {r.name: r.physical for r in result.results}
    assert relations["summary"] == "VIEW" and relations[physical["summary"]] == "BASE TABLE"
    assert relations[physical["stg_orders"]] == "VIEW"
    assert not any(name.startswith("top_user") for name in relations)
    manifest = json.loads((shop.root / "target/manifest.json").read_text())
    summary = manifest["nodes"]["model.demo.summary"]
    assert summary["depends_on"]["nodes"] == [
        "model.demo.big_orders", "model.demo.top_user", "model.demo.users_clean"]
    assert summary["meta"]["runner"]["physical"] == physical["summary"]
    assert manifest["parent_map"]["model.demo.stg_orders"] == ["source.demo.sources.raw_orders"]
    run_results = json.loads((shop.root / "target/run_results.json").read_text())
    assert [(r["unique_id"], r["status"], r["adapter_response"]["rows_affected"])
            for r in run_results["results"]] == [
        ("model.demo.stg_orders", "success", None), ("model.demo.big_orders", "success", 3),
        ("model.demo.users_clean", "success", 3), ("model.demo.summary", "success", 3)]
    compiled = (shop.root / "target/compiled/local/models/summary.sql").read_text()
    assert compiled.startswith(f"CREATE TABLE {physical['summary']} AS WITH top_user AS (SELECT")
    assert f"CREATE OR REPLACE VIEW summary AS SELECT * FROM {physical['summary']};" in compiled
    assert lines[-1] == "Done. PASS=4 NO-OP=0 ERROR=0 SKIP=0 TOTAL=4"


def test_second_build_runs_nothing(shop) -> None:
    first, _ = _build(shop)
    second, lines = _build(shop)
    assert [r.status for r in second.results] == ["noop"] * 4
    assert all(r.statements == [] for r in second.results)  # not even the pointer moved
    assert [r.physical for r in second.results] == [r.physical for r in first.results]
    assert "Nothing to do: every selected model is up to date (no CTAS run)." in lines
    assert lines[-1] == "Done. PASS=0 NO-OP=4 ERROR=0 SKIP=0 TOTAL=4"


def test_edit_rebuilds_the_model_and_its_descendants_only(shop) -> None:
    first, _ = _build(shop)
    shop.model("big_orders", """
        SELECT user_id, count(*) AS n_orders, sum(amount) AS total, avg(amount) AS avg_amount
        FROM stg_orders GROUP BY user_id
        """, folder="models/features")
    second, _ = _build(shop)
    statuses = {r.name: r.status for r in second.results}
    assert statuses == {"stg_orders": "noop", "users_clean": "noop", "big_orders": "success",
                        "summary": "success"}
    assert shop.sql("SELECT user_id, n_orders, total FROM summary ORDER BY 1") == [
        ("u1", 2, 25.0), ("u2", 1, 30.0), ("u3", 2, 20.0)]
    # the superseded versions are gone (keep_versions: 1) and the new ones are current
    names = {row[0] for row in shop.sql("SELECT table_name FROM information_schema.tables")}
    old = {r.name: r.physical for r in first.results}
    assert old["big_orders"] not in names and old["summary"] not in names
    assert sorted(second.dropped) == sorted([old["big_orders"], old["summary"]])


def test_failed_rebuild_keeps_the_last_good_table(shop) -> None:
    _build(shop)
    before = shop.sql("SELECT * FROM summary ORDER BY user_id")
    shop.model("big_orders", "SELECT user_id, no_such_column AS total FROM stg_orders",
               folder="models/features")
    result, lines = _build(shop)
    statuses = {r.name: r.status for r in result.results}
    assert statuses == {"stg_orders": "noop", "users_clean": "noop", "big_orders": "error",
                        "summary": "skipped"}
    assert result.exit_code == 1
    error = result.by_name()["big_orders"]
    assert "no_such_column" in error.message
    assert "models/features/big_orders.sql: " in "\n".join(lines)
    assert result.by_name()["summary"].message == "skipped: upstream model 'big_orders' failed"
    assert shop.sql("SELECT * FROM summary ORDER BY user_id") == before
    names = {row[0] for row in shop.sql("SELECT table_name FROM information_schema.tables")}
    assert error.physical not in names  # nothing half-built left behind


def test_interrupted_build_drops_only_the_new_version(shop, monkeypatch) -> None:
    _build(shop)
    before = shop.sql("SELECT * FROM big_orders ORDER BY user_id")
    shop.model("big_orders", "SELECT user_id, 1 AS total FROM stg_orders",
               folder="models/features")
    real = DuckDBAdapter.materialize
    created: list[str] = []

    def crash_after_create(self, sql, *, model, physical):
        real(self, sql, model=model, physical=physical)
        created.append(physical)
        raise KeyboardInterrupt  # e.g. Ctrl-C right after the CTAS finished

    monkeypatch.setattr(DuckDBAdapter, "materialize", crash_after_create)
    with pytest.raises(RunError, match="interrupted: running statements were cancelled"):
        _build(shop, select=["big_orders"])
    monkeypatch.undo()
    assert shop.sql("SELECT * FROM big_orders ORDER BY user_id") == before
    names = {row[0] for row in shop.sql("SELECT table_name FROM information_schema.tables")}
    assert created and created[0] not in names


def test_independent_branch_finishes_when_a_model_fails_in_parallel(shop) -> None:
    shop.model("broken", "SELECT CAST(1 AS INT) AS x FROM raw_orders WHERE missing_col = 1")
    shop.model("after_broken", "SELECT * FROM broken")
    result, lines = _build(shop, threads=4)
    statuses = {r.name: r.status for r in result.results}
    assert statuses["broken"] == "error" and statuses["after_broken"] == "skipped"
    assert all(statuses[n] == "success" for n in ("stg_orders", "users_clean", "big_orders",
                                                  "summary"))
    assert result.exit_code == 1
    assert lines[-1] == "Done. PASS=4 NO-OP=0 ERROR=1 SKIP=1 TOTAL=6"


def test_select_plus_final_with_threads(shop) -> None:
    result, _ = _build(shop, select=["+summary"], threads=4)
    assert [r.name for r in result.results] == ["stg_orders", "big_orders", "users_clean",
                                                "summary"]
    assert result.ok


def test_selecting_a_model_whose_parent_was_never_built(shop) -> None:
    result, _ = _build(shop, select=["summary"])
    error = result.by_name()["summary"]
    assert error.status == "error"
    assert error.message.startswith("upstream model 'big_orders' has no built version")
    assert "runner build --select +summary" in error.message


def test_full_refresh_rebuilds_into_a_new_version(shop) -> None:
    first, _ = _build(shop)
    again, _ = _build(shop, select=["big_orders"], full_refresh=True)
    assert again.results[0].status == "success"
    assert again.results[0].physical != first.by_name()["big_orders"].physical
    third, _ = _build(shop)  # summary now reads the refreshed version, so it rebuilds
    statuses = {r.name: r.status for r in third.results}
    assert statuses == {"stg_orders": "noop", "users_clean": "noop", "big_orders": "noop",
                        "summary": "success"}


def test_keep_versions_and_clean(shop) -> None:
    shop.write("project.yml", (shop.root / "project.yml").read_text() + "keep_versions: 2\n")
    first, _ = _build(shop)
    _build(shop, select=["users_clean"], full_refresh=True)
    _build(shop, select=["users_clean"], full_refresh=True)
    names = {row[0] for row in shop.sql("SELECT table_name FROM information_schema.tables")}
    versions = sorted(n for n in names if n.startswith("users_clean__"))
    assert len(versions) == 2  # current + one previous; the first one was dropped
    assert first.by_name()["users_clean"].physical not in versions
    lines: list[str] = []
    planned = clean(shop.root, BuildOptions(), echo=lines.append, dry_run=True)
    assert lines[0] == f"would drop {planned[0]}" and len(planned) == 1
    assert len(lines) == 2 and lines[1].startswith("would remove the parse and compile cache")
    assert planned[0] in {row[0] for row in shop.sql(
        "SELECT table_name FROM information_schema.tables")}  # a dry run drops nothing
    lines.clear()
    dropped = clean(shop.root, BuildOptions(), echo=lines.append)
    assert dropped == planned
    assert lines[-2] == "Dropped 1 old version(s) on target 'local'."
    assert lines[-1].startswith("removed the parse and compile cache (target/cache, ")
    assert shop.sql("SELECT count(*) FROM users_clean") == [(3,)]


def test_clean_never_drops_what_a_current_view_reads(project) -> None:
    project.model("base", "SELECT user_id, amount FROM raw_orders")
    project.model("v", "/* config\nmaterialized: view\n*/\nSELECT user_id FROM base")
    _build(project)
    _build(project, select=["base"], full_refresh=True)  # v still reads the old base version
    assert project.sql("SELECT count(*) FROM v") == [(5,)]
    assert clean(project.root, BuildOptions(), echo=lambda _: None) == []
    assert project.sql("SELECT count(*) FROM v") == [(5,)]


def test_column_types_flow_from_sources_through_models(project) -> None:
    """Spark's avg of a DECIMAL(p, s) is a DECIMAL(p + 4, s + 4); DuckDB's is a DOUBLE. The
    dialect layer only knows to keep Spark's type when the column types reach it, from the
    source through the intermediate model."""
    project.model("stg", "SELECT user_id, amount FROM raw_orders")
    project.model("avg_amount", "SELECT user_id, avg(amount) AS a FROM stg GROUP BY user_id")
    result, _ = _build(project)
    assert result.ok
    assert project.sql("SELECT typeof(a) FROM avg_amount LIMIT 1") == [("DECIMAL(7,5)",)]
    assert project.sql("SELECT user_id, a FROM avg_amount ORDER BY 1") == [
        ("u1", Decimal("12.50000")), ("u2", Decimal("30.00000")), ("u3", Decimal("10.00000"))]


def test_a_second_run_on_the_same_target_is_refused(shop) -> None:
    import fcntl

    lock = shop.root / "target" / "state" / "local.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another runner holds the target
        with pytest.raises(RunError, match="another runner is working on target 'local' of this "
                                           "project"):
            _build(shop)
    assert _build(shop)[0].ok  # released: builds again


def test_dataset_ids_are_kept_per_version(tmp_path) -> None:
    from runner.run.state import TargetState

    state = TargetState(tmp_path / "state.json")
    state.record("m", "m__1", "1", dataset_id="ds1")
    state.record("m", "m__2", "2", dataset_id="ds2")
    assert state.get("m").dataset_id == "ds2"
    state.record("m", "m__1", "1")  # the pointer moves back to the older version
    assert state.get("m").dataset_id == "ds1"
    reloaded = TargetState(tmp_path / "state.json")
    assert reloaded.get("m").dataset_ids == {"m__1": "ds1", "m__2": "ds2"}
    reloaded.forget("m", "m__2")
    assert TargetState(tmp_path / "state.json").get("m").dataset_ids == {"m__1": "ds1"}


@pytest.mark.parametrize("module, function, verb", [
    ("runner.compile.compiler", "_resolve_tables", "compiling"),  # (project, name, ...)
    ("runner.project.model", "parse_query", "reading")])          # (sql, path, dialect)
def test_a_slow_model_is_named_while_it_is_read_or_compiled(project, monkeypatch, module,
                                                            function, verb) -> None:
    """A model whose reading (parse, checks) or compilation takes longer than SlowStep's delay
    is named while it runs (a very large generated model); a second build, from the caches,
    says nothing."""
    import importlib
    import time

    import runner.run.session as session
    from runner.run.progress import SlowStep

    real = getattr(importlib.import_module(module), function)

    def slow(*args):  # noqa: ANN002
        if args[1] in ("big", "models/big.sql"):
            time.sleep(0.5)
        return real(*args)

    monkeypatch.setattr(importlib.import_module(module), function, slow)
    monkeypatch.setattr(session, "SlowStep", lambda echo, verb: SlowStep(echo, verb, after=0.2))
    project.model("a_small", "SELECT * FROM raw_orders")
    project.model("big", "SELECT user_id, count(*) AS n FROM a_small GROUP BY 1")
    lines: list[str] = []
    assert build(project.root, BuildOptions(), echo=lines.append).ok
    slow_lines = [line for line in lines if "still " in line]
    assert len(slow_lines) == 1
    assert slow_lines[0].endswith(f"still {verb} models/big.sql (model 2, 0 s so far)")
    assert project.sql("SELECT count(*) FROM big") == [(3,)]
    lines.clear()
    assert build(project.root, BuildOptions(), echo=lines.append).ok
    assert not [line for line in lines if "still " in line]


def test_a_no_op_build_lists_the_target_once_and_asks_nothing_per_model(project, monkeypatch
                                                                        ) -> None:
    """The up-to-date check of every model answers from one catalog listing; a model built in
    the same run (not in that listing) is asked of the engine."""
    for i in range(5):
        project.model(f"m{i}", f"SELECT user_id, {i} AS k FROM raw_users")
    project.model("top", "SELECT * FROM m0 JOIN m1 USING (user_id, k)")
    calls: list[str] = []
    relations, check = DuckDBAdapter.relations, DuckDBAdapter.check_exists
    monkeypatch.setattr(DuckDBAdapter, "relations",
                        lambda self: calls.append("list") or relations(self))
    monkeypatch.setattr(DuckDBAdapter, "check_exists",
                        lambda self, name: calls.append(f"ask {name}") or check(self, name))
    first = build(project.root, BuildOptions(threads=1), echo=lambda line: None)
    assert {r.status for r in first.results} == {"success"}
    built = {r.name: r.physical for r in first.results}
    # nothing was listed yet: each version is asked of the engine once, and top's two parents
    # once more (its check that they exist)
    expected = [*built.values(), built["m0"], built["m1"]]
    assert sorted(c for c in calls if c.startswith("ask")) == sorted(f"ask {p}" for p in expected)
    calls.clear()
    again = build(project.root, BuildOptions(threads=1), echo=lambda line: None)
    assert {r.status for r in again.results} == {"noop"}
    assert [c for c in calls if c.startswith("ask")] == []
    # the sources' check, their data versions and the models' up-to-date check: three in all,
    # whatever the number of models
    assert calls == ["list", "list", "list"]
