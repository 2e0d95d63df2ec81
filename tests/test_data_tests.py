"""Data tests: declared in a model's config block (dbt's shapes), compiled for each target, run
after their model by ``runner build`` and alone by ``runner test``.

One project over two small sources with known defects (a NULL and a repeated order id, a
negative amount, an order of an unknown user, five orders) declares a passing and a failing
variant of each test type; it is built on DuckDB, PostgreSQL and the emulated Data Distiller and
each test's status, failing count and sample rows are checked, and on Data Distiller the exact
SQL sent.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
import yaml

from runner import BuildOptions, build
from runner.adapters.data_distiller import DataDistillerAdapter
from runner.cli.main import main
from runner.errors import ProjectError
from runner.project.model import split_config
from runner.run.testing import run_data_tests
from emulator_fixtures import PG_DSN, require_postgres
from test_artifacts import validate

SOURCES = """
    CREATE TABLE raw_orders AS SELECT * FROM (VALUES
      (1, 'u1', 5.0, 'paid'), (2, 'u1', 20.0, 'paid'), (2, 'u2', 30.0, 'refunded'),
      (4, 'u3', -12.5, 'paid'), (NULL, 'u9', 7.5, 'lost')) AS t(order_id, user_id, amount, status);
    CREATE TABLE raw_users AS SELECT * FROM (VALUES ('u1', 'gold'), ('u2', 'silver'),
      ('u3', 'gold')) AS t(user_id, tier);
"""

ORDERS = """
    /* config
    columns:
      order_id:
        description: the order
        data_tests: [not_null, unique]
      user_id:
        data_tests:
          - not_null
          - relationships: {to: users, field: user_id}
          - relationships:
              to: raw_users
              field: user_id
              config: {where: "user_id <> 'u9'"}
      amount:
        tests: [unique]
      status:
        data_tests:
          - accepted_values: {values: [paid, refunded, lost]}
          - accepted_values: {values: [paid, refunded]}
    data_tests:
      - row_count: {min: 1, max: 5}
      - row_count: {max: 3}
      - expression: "amount > 0"
      - dbt_utils.expression_is_true: {expression: "amount > -100"}
    */
    SELECT * FROM raw_orders
    """

# name -> (status, failures, sample rows); amounts compared as floats
EXPECTED = {
    "not_null_orders_order_id": ("fail", 1, [{"order_id": None, "user_id": "u9", "amount": 7.5,
                                              "status": "lost"}]),
    "unique_orders_order_id": ("fail", 1, [{"order_id": 2, "n_records": 2}]),
    "not_null_orders_user_id": ("pass", 0, []),
    "relationships_orders_user_id__user_id__ref_users_": ("fail", 1, [{"from_field": "u9"}]),
    "relationships_orders_user_id__user_id__source_raw_users_": ("pass", 0, []),
    "unique_orders_amount": ("pass", 0, []),
    "accepted_values_orders_status__paid__refunded__lost": ("pass", 0, []),
    "accepted_values_orders_status__paid__refunded": (
        "fail", 1, [{"value_field": "lost", "n_records": 1}]),
    "row_count_orders__1__5": ("pass", 0, []),
    "row_count_orders____3": ("fail", 1, [{"row_count": 5}]),
    "expression_is_true_orders_amount_0": ("fail", 1, [{"order_id": 4, "user_id": "u3",
                                                        "amount": -12.5, "status": "paid"}]),
    "expression_is_true_orders_amount_100": ("pass", 0, []),
}


def write_project(root: Path, targets: dict | None = None, sources: dict | None = None,
                  orders: str = ORDERS) -> Path:
    config: dict = {"name": "shop", "sources": sources or {"raw_orders": {}, "raw_users": {}}}
    if targets:
        config.update(targets=targets, default_target=next(iter(targets)))
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for name, sql in {"orders": orders, "users": "SELECT * FROM raw_users"}.items():
        path = root / "models" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(sql).lstrip("\n"))
    return root


def plain(rows: list[dict]) -> list[dict]:
    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}
            for row in rows]


def outcomes(result) -> dict[str, tuple]:
    return {t.name: (t.status, t.failures, plain(t.sample)) for t in result.tests}


@pytest.fixture
def shop(project):
    project.seed("DROP TABLE raw_orders; DROP TABLE raw_users;" + SOURCES)
    write_project(project.root)
    return project


# -- each type passing and failing, on every engine ------------------------------------------
def test_each_type_passes_and_fails_on_duckdb(shop) -> None:
    lines: list[str] = []
    result = build(shop.root, BuildOptions(), echo=lines.append)
    assert outcomes(result) == EXPECTED
    assert result.exit_code == 1 and {r.name: r.status for r in result.results} == {
        "users": "success", "orders": "success"}
    text = "\n".join(lines)
    assert "FAIL test not_null_orders_order_id" in text and "[FAIL 1 in" in text
    assert "models/orders.sql:5: 1 failing row:" in text  # where it is declared
    assert "order_id=NULL, user_id='u9', amount=7.5, status='lost'" in text
    assert "models/orders.sql:22: 5 rows, expected at most 3 rows" in text
    assert "Data tests: PASS=6 WARN=0 FAIL=6 ERROR=0 SKIP=0 TOTAL=12" in text
    compiled = shop.root / "target/compiled/local/tests/relationships_orders_user_id__user_id__ref_users_.sql"
    physical = {r.name: r.physical for r in result.results}
    assert compiled.read_text().splitlines()[1] == (
        f"SELECT child.user_id AS from_field FROM {physical['orders']} AS child LEFT JOIN "
        f"{physical['users']} AS parent ON child.user_id = parent.user_id "
        "WHERE NOT child.user_id IS NULL AND parent.user_id IS NULL;")


@pytest.mark.postgres
def test_each_type_passes_and_fails_on_postgres(tmp_path: Path) -> None:
    require_postgres()
    schema = f"dt_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}_raw"; SET search_path TO "{schema}_raw"; {SOURCES}')
    try:
        root = write_project(tmp_path / "pg", {"pg": {"type": "postgres", "dsn": PG_DSN,
                                                      "schema": schema}},
                             {"raw_orders": {"identifier": f"{schema}_raw.raw_orders"},
                              "raw_users": {"identifier": f"{schema}_raw.raw_users"}})
        result = build(root, BuildOptions(), echo=lambda line: None)
        assert outcomes(result) == EXPECTED
        assert result.exit_code == 1
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; '
                        f'DROP SCHEMA IF EXISTS "{schema}_raw" CASCADE')
        admin.close()


@pytest.mark.postgres
def test_data_distiller_runs_the_exact_test_sql(tmp_path: Path, emulator, monkeypatch) -> None:
    emulator.run_sql(textwrap.dedent(SOURCES))
    sent: list[str] = []
    for method in ("fetch", "fetch_arrow"):
        real = getattr(DataDistillerAdapter, method)

        def recording(self, sql: str, real=real):  # the real call, recorded
            sent.append(sql)
            return real(self, sql)

        monkeypatch.setattr(DataDistillerAdapter, method, recording)
    (tmp_path / "aep.ini").write_text(
        f"[Credential]\nims_org_id = {emulator.org_id}\nsandbox_name = {emulator.sandbox}\n"
        f"client_id = {emulator.client_id}\nclient_secret = {emulator.client_secret}\n"
        "scopes = openid, AdobeID, read_organizations\ntech_acct_id = t@techacct.adobe.com\n")
    root = write_project(tmp_path, {"aep": {
        "type": "data_distiller", "credentials_file": "aep.ini", "ims_host": emulator.url,
        "platform_host": emulator.url, "sslmode": "disable", "poll_interval": 0.02}})
    result = build(root, BuildOptions(), echo=lambda line: None)
    assert outcomes(result) == EXPECTED
    orders = result.by_name()["orders"].physical
    failing = f"SELECT * FROM {orders} WHERE order_id IS NULL"
    assert f"SELECT COUNT(*) AS failures FROM ({failing}) AS failing" in sent
    assert f"SELECT * FROM ({failing}) AS failing LIMIT 5" in sent
    accepted = (f"SELECT status AS value_field, COUNT(*) AS n_records FROM {orders} WHERE NOT "
                "status IN ('paid', 'refunded') GROUP BY status")
    assert f"SELECT COUNT(*) AS failures FROM ({accepted}) AS failing" in sent
    # a passing test sends its count only
    assert not any(s.startswith("SELECT * FROM (") and "amount > -100" in s for s in sent)


# -- severity, skipping, exports -----------------------------------------------------------
def chain(project, severity: str) -> None:
    """base (a failing test) -> child -> grandchild; sibling -> nephew beside them."""
    project.model("base", f"""
        /* config
        columns:
          user_id:
            data_tests:
              - unique: {{config: {{severity: {severity}}}}}
        */
        SELECT user_id, amount FROM raw_orders
        """)
    project.model("child", "SELECT user_id, sum(amount) AS total FROM base GROUP BY user_id")
    project.model("grandchild", "SELECT * FROM child WHERE total > 10")
    project.model("sibling", "SELECT * FROM raw_users")
    project.model("nephew", "SELECT * FROM sibling")
    project.write("project.yml", """
        name: demo
        sources: {raw_orders: {}, raw_users: {}}
        exports:
          - {model: base, destination: {type: local, path: out}}
          - {model: sibling, destination: {type: local, path: sib}}
        """)


def test_a_failing_error_test_skips_only_the_descendants_and_the_export(project) -> None:
    chain(project, "error")
    lines: list[str] = []
    result = build(project.root, BuildOptions(), echo=lines.append)
    statuses = {r.name: r.status for r in result.results}
    assert statuses == {"base": "success", "child": "skipped", "grandchild": "skipped",
                        "sibling": "success", "nephew": "success"}
    assert result.by_name()["child"].message == (
        "skipped: upstream model 'base' failed a data test")
    assert [(t.name, t.status, t.failures) for t in result.tests] == [
        ("unique_base_user_id", "fail", 2)]
    assert result.exit_code == 1
    assert {e.model: e.status for e in result.exports} == {"base": "skipped",
                                                          "sibling": "success"}
    assert not (project.root / "target/exports/out").exists()
    assert (project.root / "target/exports/sib").is_dir()
    assert "export base -> local: skipped (an error-severity data test of base failed)" in lines
    results = json.loads((project.root / "target/run_results.json").read_text())
    by_id = {r["unique_id"]: r for r in results["results"]}
    assert by_id["model.demo.child"]["status"] == "skipped"
    assert by_id["test.demo.unique_base_user_id"]["status"] == "fail"


def test_retry_tests_the_model_again_before_its_descendants(project) -> None:
    from runner.run.retry import retry

    chain(project, "error")
    build(project.root, BuildOptions(), echo=lambda line: None)
    again = retry(project.root, BuildOptions(), echo=lambda line: None)
    assert again is not None  # still failing: the descendants stay skipped
    assert {r.name: r.status for r in again.results} == {
        "base": "noop", "child": "skipped", "grandchild": "skipped"}
    base = project.root / "models/base.sql"  # the fix: one row per user
    base.write_text(base.read_text().replace("FROM raw_orders",
                                             "FROM raw_orders WHERE order_id IN (1, 3, 4)"))
    fixed = retry(project.root, BuildOptions(), echo=lambda line: None)
    assert fixed is not None and fixed.exit_code == 0
    assert {r.name: r.status for r in fixed.results} == {
        "base": "success", "child": "success", "grandchild": "success"}


def test_a_warn_test_warns_and_the_build_goes_on(project) -> None:
    chain(project, "warn")
    lines: list[str] = []
    result = build(project.root, BuildOptions(), echo=lines.append)
    assert {r.status for r in result.results} == {"success"} and result.exit_code == 0
    assert [(t.status, t.failures) for t in result.tests] == [("warn", 2)]
    warn = next(line for line in lines if "WARN test unique_base_user_id" in line)
    assert warn.endswith("[WARN 2 in " + warn.rsplit("[WARN 2 in ", 1)[1])
    assert {e.model: e.status for e in result.exports} == {"base": "success",
                                                          "sibling": "success"}
    # an up-to-date model's tests run again; a pass is then counted, not listed
    again: list[str] = []
    second = build(project.root, BuildOptions(exports=False), echo=again.append)
    assert [t.status for t in second.tests] == ["warn"]


def test_a_relationships_test_waits_for_the_model_it_reads(project) -> None:
    project.model("a_orders", """
        /* config
        columns: [{name: user_id, data_tests: [{relationships: {to: z_users, field: user_id}}]}]
        */
        SELECT * FROM raw_orders
        """)
    project.model("z_users", "SELECT * FROM raw_users")
    result = build(project.root, BuildOptions(threads=1), echo=lambda line: None)
    assert [r.name for r in sorted(result.results, key=lambda r: r.started_at)] == [
        "z_users", "a_orders"]
    assert [(t.status, t.failures) for t in result.tests] == [("pass", 0)]


# -- runner test --------------------------------------------------------------------------
def test_runner_test_tests_what_is_built(shop, capsys) -> None:
    root = str(shop.root)
    assert main(["test", "--project-dir", root]) == 2
    assert "not built on target 'local' as they are now: orders (models/orders.sql)" in (
        capsys.readouterr().err)
    build(shop.root, BuildOptions(), echo=lambda line: None)
    assert main(["test", "--project-dir", root]) == 1
    out = capsys.readouterr().out
    assert "Running 12 data test(s) of 1 model(s) on target 'local'" in out
    assert "PASS test not_null_orders_user_id" in out and "FAIL test unique_orders_order_id" in out
    results = json.loads((shop.root / "target/run_results.json").read_text())
    validate(results, "run-results_v6.json")
    assert results["args"]["which"] == "test"
    assert {r["unique_id"]: (r["status"], r["failures"]) for r in results["results"]} == {
        f"test.shop.{name}": (status, failures) for name, (status, failures, _) in
        EXPECTED.items()}
    assert main(["test", "--project-dir", root, "-s", "users"]) == 0
    assert "Nothing to test" in capsys.readouterr().out
    (shop.root / "models/orders.sql").write_text(ORDERS.replace("raw_orders", "raw_orders "
                                                                "WHERE order_id IS NOT NULL"))
    assert main(["test", "--project-dir", root]) == 2  # edited since it was built


def test_run_data_tests_in_process(shop) -> None:
    build(shop.root, BuildOptions(select=["users"]), echo=lambda line: None)
    shop.write("models/orders.sql", ORDERS.replace("SELECT * FROM raw_orders",
                                                   "SELECT * FROM raw_orders WHERE amount > 0 "
                                                   "AND order_id IS NOT NULL AND user_id <> 'u1'"))
    build(shop.root, BuildOptions(), echo=lambda line: None)
    result = run_data_tests(shop.root, BuildOptions(), echo=lambda line: None)
    assert {t.name: (t.status, t.failures) for t in result.tests} == {
        name: ("pass", 0) for name in EXPECTED}
    assert result.exit_code == 0 and [r.status for r in result.results] == ["noop"]


# -- run_results -------------------------------------------------------------------------
def test_run_results_have_one_result_per_test(shop) -> None:
    result = build(shop.root, BuildOptions(), echo=lambda line: None)
    results = json.loads((shop.root / "target/run_results.json").read_text())
    validate(results, "run-results_v6.json")
    ids = [r["unique_id"] for r in results["results"]]
    assert ids[ids.index("model.shop.orders") + 1:ids.index("model.shop.orders") + 13] == [
        f"test.shop.{name}" for name in EXPECTED]
    entry = next(r for r in results["results"]
                 if r["unique_id"] == "test.shop.not_null_orders_order_id")
    physical = result.by_name()["orders"].physical
    assert entry["status"] == "fail" and entry["failures"] == 1
    assert entry["compiled_code"] == f"SELECT * FROM {physical} WHERE order_id IS NULL"
    assert entry["message"] == "1 failing row"
    assert entry["adapter_response"] == {
        "_message": "1 failing row", "model": "orders", "kind": "not_null",
        "column": "order_id", "severity": "error", "declared_at": "models/orders.sql:5",
        "sample": [{"order_id": None, "user_id": "u9", "amount": "7.5", "status": "lost"}]}
    passing = next(r for r in results["results"]
                   if r["unique_id"] == "test.shop.row_count_orders__1__5")
    assert (passing["status"], passing["failures"], passing["message"]) == (
        "pass", 0, "no failing rows")


# -- config ------------------------------------------------------------------------------
def config_of(block: str):
    return split_config(f"/* config\n{textwrap.dedent(block).strip()}\n*/\nSELECT 1",
                        "models/m.sql")[0]


def test_dbt_shapes_are_read() -> None:
    config = config_of("""
        columns:
          - name: user_id
            description: who
            tests: [unique]
          - name: tier
            data_tests:
              - accepted_values:
                  arguments: {values: [gold, silver]}
                  config: {severity: WARN}
        data_tests:
          - not_null: {column_name: User_Id}
          - relationships: {column_name: tier, to: "ref('tiers')", field: tier}
          - expression_is_true: {expression: "1 = 1", severity: warn}
        """)
    assert config.columns == {"user_id": "who", "tier": ""}
    assert [(t.kind, t.column, t.severity, t.line, dict(t.args)) for t in config.data_tests] == [
        ("unique", "user_id", "error", 5, {}),
        ("accepted_values", "tier", "warn", 8, {"values": ("gold", "silver"), "quote": True}),
        ("not_null", "user_id", "error", 12, {}),
        ("relationships", "tier", "error", 13, {"to": "tiers", "field": "tier"}),
        ("expression", None, "warn", 14, {"expression": "1 = 1"})]


@pytest.mark.parametrize("block, line, message", [
    ("columns:\n  a:\n    data_tests: [not_nul]", 4,
     "columns.a.data_tests[0]: unknown data test 'not_nul' (did you mean 'not_null'?)"),
    ("columns:\n  a:\n    data_test: [unique]", 4,
     "columns.a: unknown key 'data_test' (did you mean 'data_tests'?)"),
    ("data_tests:\n  - row_count:\n      mni: 1", 4,
     "data_tests[0].row_count: unknown key 'mni' (did you mean 'min'?)"),
    ("columns:\n  a:\n    data_tests:\n      - unique:\n          config: {severity: fatal}", 6,
     "columns.a.data_tests[0].config.severity: 'fatal' is not one of error, warn"),
    ("columns:\n  a:\n    data_tests:\n      - unique:\n          config: {severty: warn}", 6,
     "columns.a.data_tests[0].config: unknown key 'severty' (did you mean 'severity'?)"),
    ("columns:\n  a:\n    data_tests: [row_count]", 4,
     "row_count tests the whole model: put it under the model's data_tests"),
    ("data_tests:\n  - accepted_values: {column_name: a}", 3,
     "data_tests[0].accepted_values: missing 'values'"),
    ("data_tests:\n  - expression: \"amount >\"", 3,
     "data_tests[0].expression: not a SQL expression"),
    ("data_tests:\n  - row_count: {min: 5, max: 1}", 3, "min 5 is more than max 1"),
    ("materialized: ephemeral\ndata_tests:\n  - row_count: {min: 1}", 3,
     "an ephemeral model is never built"),
    ("data_tets: []", 2, "unknown key 'data_tets' (did you mean 'data_tests'?)"),
])
def test_bad_config_names_the_file_line_and_key(block: str, line: int, message: str) -> None:
    with pytest.raises(ProjectError) as err:
        config_of(block)
    assert (err.value.path, err.value.line) == ("models/m.sql", line)
    assert message in str(err.value)
    assert str(err.value).startswith(f"models/m.sql:{line}: config block: ")


def test_unknown_relationships_target_and_column_are_errors(project) -> None:
    project.model("m", """
        /* config
        columns:
          user_id:
            data_tests:
              - relationships: {to: raw_user, field: user_id}
        */
        SELECT * FROM raw_orders
        """)
    with pytest.raises(ProjectError, match=r"models/m.sql:5: config block: relationships: "
                                           r"'to: raw_user' is not a model or a declared source "
                                           r"\(did you mean 'raw_users'\?\)"):
        build(project.root, BuildOptions(), echo=lambda line: None)
    project.model("m", """
        /* config
        columns:
          user_ld: {data_tests: [not_null]}
        */
        SELECT * FROM raw_orders
        """)
    with pytest.raises(ProjectError, match=r"models/m.sql:3: data test: model 'm' has no column "
                                           r"'user_ld' \(did you mean 'user_id'\?\)"):
        build(project.root, BuildOptions(), echo=lambda line: None)
