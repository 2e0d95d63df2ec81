"""The point-in-time audit (``runner test --leakage``): models tagged ``as_of`` rebuilt on the
sources without their rows at or after the cutoff, and with them perturbed, and compared.

A four-row event source shows each count by hand; the example project passes, and fails
naming the columns when one feature is edited to read a day past the as-of date, or when the
label is no longer ignored.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runner.adapters import adapter_class
from runner.cli.main import main
from runner.errors import ProjectError
from runner.run.events import EventLog
from runner.run.leakage import _perturb, run_leakage_audit
from runner.run.options import BuildOptions
from test_artifacts import validate
from test_example_project import copy_example

EVENTS = """\
user_id,ts,amount
u1,2026-05-01 00:00:00,10
u1,2026-05-12 00:00:00,5
u2,2026-05-11 00:00:00,7
u3,2026-05-02 00:00:00,1
"""
# the cutoff is 2026-05-10: u1's second event and u2's only one are after it


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write(root, "project.yml", """
        name: shop
        vars: {as_of: "2026-05-10"}
        targets:
          local: {type: duckdb}
          distiller: {type: data_distiller, sandbox: prod}
        sources:
          events: {path: data/events.csv, time_column: ts}
        """)
    write(root, "data/events.csv", EVENTS)
    write(root, "models/spend.sql", """
        /* config
        as_of: {var: as_of}
        */
        SELECT user_id, SUM(amount) AS spend, COUNT(*) AS events FROM events GROUP BY user_id
        """)
    write(root, "models/spend_before.sql", """
        /* config
        as_of: as_of
        */
        SELECT user_id, SUM(amount) AS spend FROM events
        WHERE ts < CAST(var('as_of') AS TIMESTAMP) GROUP BY user_id
        """)
    return root


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def audit(root: Path, **options: object):  # noqa: ANN201 - a LeakageRun
    lines: list[str] = []
    return run_leakage_audit(root, BuildOptions(**options), echo=lines.append), lines


def test_a_model_reading_after_the_cutoff_fails_naming_its_columns(shop: Path) -> None:
    run, lines = audit(shop)
    spend, before = run.results
    assert (before.test.model, before.status) == ("spend_before", "pass")
    assert before.message == "1 column(s) unchanged in 2 rows"
    assert (spend.test.model, spend.status, spend.failures, run.exit_code) == (
        "spend", "fail", 2, 1)
    assert spend.message == ("spend.spend, spend.events read data at or after the cutoff "
                             "(as_of = 2026-05-10): 2 of 3 rows affected")
    # removed: u1 15 -> 10 and u2 gone; perturbed: u1 gets u2's 7 (17), u2 gets u1's 5
    assert spend.details == [
        "spend: 2 rows differ with the rows at or after the cutoff removed, 2 with them perturbed",
        "events: 2 rows differ with the rows at or after the cutoff removed",
        "(rows): 1 row differs with the rows at or after the cutoff removed"]
    assert "  source events: 2 of 4 rows at or after the cutoff (ts)" in lines
    assert lines[-1] == "Leakage: PASS=1 FAIL=1 ERROR=0 TOTAL=2"
    assert spend.sample == [{"column": "spend", "removed": 2, "perturbed": 2},
                            {"column": "events", "removed": 2},
                            {"column": "(rows)", "removed": 1}]


def test_runner_test_leakage_exit_codes_artifacts_and_events(shop: Path, capsys) -> None:
    assert main(["test", "--leakage", "--project-dir", str(shop)]) == 1
    out = capsys.readouterr().out
    assert "FAIL leakage spend " in out and "PASS leakage spend_before " in out
    assert "    models/spend.sql: spend.spend, spend.events read data at or after the cutoff " \
           "(as_of = 2026-05-10): 2 of 3 rows affected\n" in out
    results = json.loads((shop / "target" / "run_results.json").read_text())
    validate(results, "run-results_v6.json")
    assert results["args"]["which"] == "leakage"
    assert [(r["unique_id"], r["status"], r["failures"]) for r in results["results"]] == [
        ("test.shop.no_leakage_spend", "fail", 2),
        ("test.shop.no_leakage_spend_before", "pass", 0)]
    assert results["results"][0]["compiled_code"] == (
        "SELECT user_id, CAST(SUM(amount) AS BIGINT) AS spend, COUNT(*) AS events FROM events "
        "GROUP BY user_id")
    assert main(["test", "--leakage", "--project-dir", str(shop), "-s", "spend_before"]) == 0
    lines: list[str] = []
    run_leakage_audit(shop, BuildOptions(select=["spend"]), echo=lambda line: None,
                      events=EventLog([lines.append]))
    assert [(e["event"], e["unique_id"], e["status"], e["failures"])
            for e in map(json.loads, lines)] == [("test", "test.shop.no_leakage_spend", "fail", 2)]


def test_only_tagged_models_are_audited(shop: Path) -> None:
    write(shop, "models/other.sql", "SELECT user_id FROM events\n")
    run, lines = audit(shop, select=["other"])
    assert run.results == [] and run.exit_code == 0
    assert lines == ["Nothing to audit: no selected model has an as_of config "
                     "(as_of: {var: as_of_date} in its config block)."]


@pytest.mark.parametrize("edit, message", [
    (("project.yml", "time_column: ts", "time_column: tss"),
     "project.yml: sources.events.time_column: 'tss' is not a column of events (did you mean "
     "'ts'?)"),
    (("project.yml", "time_column: ts", "time_column: 3"),
     "project.yml: sources.events.time_column: expected a string, got int 3"),
    (("project.yml", "time_column: ts", "time_column: ts, entity_column: [a]"),
     "project.yml: sources.events.entity_column: expected a string, got list ['a']"),
    (("project.yml", ", time_column: ts", ""),
     "project.yml: the point-in-time audit needs to know when rows happened: declare "
     "sources.<name>.time_column for events (e.g. time_column: timestamp)"),
    (("models/spend.sql", "as_of: {var: as_of}", "as_of: {var: as_of_dat}"),
     "models/spend.sql: config block: as_of.var: 'as_of_dat' is not a var (did you mean "
     "'as_of'?); declare it under vars: in project.yml"),
    (("models/spend.sql", "as_of: {var: as_of}", "as_of: {var: as_of, igonre: [x]}"),
     "models/spend.sql:2: config block: as_of: unknown key 'igonre' (did you mean 'ignore'?) "
     "(allowed: ignore, key, var)"),
    (("models/spend.sql", "as_of: {var: as_of}", "as_of: {var: as_of, key: spnd}"),
     "models/spend.sql: config block: as_of.key: 'spnd' is not a column (did you mean "
     "'spend'?)"),
    (("models/spend.sql", "SELECT user_id,", "SELECT 1 AS k, user_id AS who,"),
     "models/spend.sql: config block: as_of.key: the model has no user_id column; set "
     "as_of.key to the columns that identify a row"),
])
def test_audit_config_errors_name_the_file(shop: Path, capsys, edit: tuple[str, str, str],
                                           message: str) -> None:
    rel, old, new = edit
    text = (shop / rel).read_text()
    assert old in text
    (shop / rel).write_text(text.replace(old, new))
    if "SELECT 1 AS k" in new:
        (shop / rel).write_text(text.replace(old, new).replace("GROUP BY user_id", "GROUP BY 2"))
    assert main(["test", "--leakage", "--project-dir", str(shop), "-s", "spend"]) == 2
    err = capsys.readouterr().err
    assert err == f"Error: {message}\n"


def test_key_must_identify_a_row(shop: Path) -> None:
    write(shop, "models/spend.sql", """
        /* config
        as_of: as_of
        */
        SELECT user_id, amount FROM events WHERE ts < CAST(var('as_of') AS TIMESTAMP)
        """)
    write(shop, "data/events.csv", EVENTS + "u1,2026-05-03 00:00:00,2\n")
    with pytest.raises(ProjectError) as err:
        audit(shop, select=["spend"])
    assert str(err.value) == ("models/spend.sql: config block: as_of.key: (user_id) is not "
                              "unique in spend (1 values repeat); set as_of.key to the columns "
                              "that identify a row")


def test_as_of_on_an_ephemeral_model_is_refused(shop: Path, capsys) -> None:
    write(shop, "models/spend.sql", """
        /* config
        materialized: ephemeral
        as_of: as_of
        */
        SELECT user_id FROM events
        """)
    assert main(["ls", "--project-dir", str(shop)]) == 2
    assert capsys.readouterr().err == (
        "Error: models/spend.sql:3: config block: as_of: an ephemeral model is never built, so "
        "its rows cannot be audited; put as_of on a model that reads it\n")


# -- a nested time column: a dotted path to a struct field ----------------------------------
def utc(day: int) -> datetime.datetime:
    return datetime.datetime(2026, 5, day, tzinfo=datetime.timezone.utc)


ACCOUNTS = pa.table({
    "user_id": ["u1", "u2", "u3", "u4"],
    "plan": ["free", "pro", "team", "free"],
    "audit": [{"createdDate": utc(day), "createdBy": by}
              for day, by in ((1, "crm"), (11, "web"), (12, "app"), (2, "crm"))],
})  # the cutoff is 2026-05-10: u2 and u3 were created after it


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """Accounts whose creation time sits inside a struct, as XDM's audit field group has it."""
    root = tmp_path / "crm"
    write(root, "project.yml", """
        name: crm
        vars: {as_of: "2026-05-10"}
        targets:
          local: {type: duckdb}
        sources:
          accounts: {path: data/accounts.parquet, time_column: audit.createdDate}
        """)
    (root / "data").mkdir()
    pq.write_table(ACCOUNTS, root / "data" / "accounts.parquet")
    write(root, "models/plans.sql", """
        /* config
        as_of: as_of
        */
        SELECT user_id, plan, audit.createdBy AS created_by FROM accounts
        """)
    write(root, "models/plans_before.sql", """
        /* config
        as_of: as_of
        */
        SELECT user_id, plan, audit.createdBy AS created_by FROM accounts
        WHERE audit.createdDate < CAST(var('as_of') AS TIMESTAMP)
        """)
    return root


def test_a_nested_time_column_is_audited(crm: Path) -> None:
    run, lines = audit(crm)
    plans, before = run.results
    assert (before.test.model, before.status) == ("plans_before", "pass")
    assert before.message == "2 column(s) unchanged in 2 rows"
    assert (plans.test.model, plans.status, run.exit_code) == ("plans", "fail", 1)
    # perturbed: u2's row takes u3's user_id and u3's takes u2's; each keeps its own plan and
    # its own audit struct (a day later), so the user_ids' plans and creators swap
    assert plans.message == ("plans.plan, plans.created_by read data at or after the cutoff "
                             "(as_of = 2026-05-10): 2 of 4 rows affected")
    assert plans.details == [
        "plan: 2 rows differ with the rows at or after the cutoff removed, 2 with them perturbed",
        "created_by: 2 rows differ with the rows at or after the cutoff removed, 2 with them "
        "perturbed",
        "(rows): 2 rows differ with the rows at or after the cutoff removed"]
    assert "  source accounts: 2 of 4 rows at or after the cutoff (audit.createdDate)" in lines


def test_a_time_columns_names_match_case_insensitively_as_in_spark(crm: Path) -> None:
    text = (crm / "project.yml").read_text()
    (crm / "project.yml").write_text(text.replace("time_column: audit.createdDate",
                                                  "time_column: AUDIT.createddate"))
    run, lines = audit(crm)
    assert [r.status for r in run.results] == ["fail", "pass"]
    assert "  source accounts: 2 of 4 rows at or after the cutoff (audit.createdDate)" in lines


def test_a_nested_time_is_perturbed_inside_its_struct(tmp_path: Path) -> None:
    adapter = adapter_class("duckdb")("t", {"type": "duckdb", "path": ":memory:"}, tmp_path)
    with adapter:
        adapter.load_arrow({"accounts": ACCOUNTS})
        types = adapter.column_types("accounts")
        after = 'CAST("audit"."createdDate" AS TIMESTAMP) >= CAST(\'2026-05-10\' AS TIMESTAMP)'
        _perturb(adapter, "accounts", "audit.createdDate", after)
        assert adapter.column_types("accounts") == types
        rows = adapter.fetch_arrow("SELECT * FROM accounts").to_pylist()
    assert rows == [
        {"user_id": "u1", "plan": "free", "audit": {"createdDate": utc(1), "createdBy": "crm"}},
        {"user_id": "u4", "plan": "free", "audit": {"createdDate": utc(2), "createdBy": "crm"}},
        {"user_id": "u3", "plan": "pro", "audit": {"createdDate": utc(12), "createdBy": "web"}},
        {"user_id": "u2", "plan": "team", "audit": {"createdDate": utc(13), "createdBy": "app"}}]


@pytest.mark.parametrize("column, message", [
    ("audit.createdAt", "'audit.createdAt' is not a field of accounts: audit has no field "
                        "'createdAt' (did you mean 'createdDate'?)"),
    ("audits.createdDate", "'audits.createdDate' is not a column of accounts: it has no column "
                           "'audits' (did you mean 'audit'?)"),
    ("plan.createdDate", "'plan.createdDate' is not a field of accounts: plan is TEXT, not a "
                         "struct"),
])
def test_a_missing_nested_time_column_is_one_error_line(crm: Path, capsys, column: str,
                                                       message: str) -> None:
    text = (crm / "project.yml").read_text()
    (crm / "project.yml").write_text(text.replace("time_column: audit.createdDate",
                                                  f"time_column: {column}"))
    assert main(["test", "--leakage", "--project-dir", str(crm)]) == 2
    assert capsys.readouterr().err == (
        f"Error: project.yml: sources.accounts.time_column: {message}\n")


# -- the example project ----------------------------------------------------------------------
USERS = 400  # the example's sources at a fifth of their size: the same audit, quicker


@pytest.fixture(scope="module")
def example_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's synthetic sources generated once, as the local DuckDB file to copy."""
    root = copy_example(tmp_path_factory.mktemp("leakage") / "example", users=USERS)
    assert main(["synth", "--project-dir", str(root)]) == 0
    return root / "target" / "local.duckdb"


def example(tmp_path: Path, database: Path) -> Path:
    root = copy_example(tmp_path / "example", users=USERS)
    (root / "target").mkdir()
    (root / "target" / "local.duckdb").write_bytes(database.read_bytes())
    return root


def test_the_example_passes(tmp_path: Path, example_events: Path) -> None:
    run, lines = audit(example(tmp_path, example_events))
    assert [(r.test.model, r.status) for r in run.results] == [
        ("user_recency", "pass"), ("user_event_counts", "pass"), ("user_engagement", "pass"),
        ("user_profile_features", "pass"), ("user_purchases", "pass"),
        ("training_set", "pass")], "\n".join(lines)
    assert run.exit_code == 0
    # the label looks after the as-of date: ignored, so only the features are compared
    assert run.results[-1].message == "61 column(s) unchanged in 274 rows"


USER_PURCHASES_OLD = """  SELECT user_id, order_total, age_days
  FROM events_history
  WHERE event_type = 'commerce.purchases'
"""
USER_PURCHASES_ONE_DAY_PAST = """\
  SELECT user_id, order_total, minutes_between(event_ts, as_of_ts()) / 1440 AS age_days
  FROM stg_events
  WHERE event_type = 'commerce.purchases'
    AND event_ts < CAST(date_add(CAST(var('as_of_date') AS DATE), 1) AS TIMESTAMP)
"""


def test_a_feature_reading_one_day_past_the_as_of_date_fails(tmp_path: Path, capsys,
                                                             example_events: Path) -> None:
    root = example(tmp_path, example_events)
    path = root / "models" / "features" / "user_purchases.sql"
    text = path.read_text(encoding="utf-8")
    assert USER_PURCHASES_OLD in text
    path.write_text(text.replace(USER_PURCHASES_OLD, USER_PURCHASES_ONE_DAY_PAST))
    assert main(["test", "--leakage", "--project-dir", str(root)]) == 1
    out = capsys.readouterr().out
    failed = [line.split(": ", 1)[1] for line in out.splitlines()
              if line.startswith(("  user_purchases: ", "  training_set: "))]
    columns = "revenue_30d, {m}.revenue_90d, {m}.avg_order_value_90d, {m}.revenue_to_date"
    assert [line.split(" read data", 1)[0] for line in failed] == [
        "models/features/user_purchases.sql: user_purchases." + columns.format(m="user_purchases"),
        "models/training_set.sql: training_set." + columns.format(m="training_set")]
    assert "PASS leakage user_event_counts" in out and "PASS leakage user_recency" in out
    assert out.rstrip().endswith("Leakage: PASS=4 FAIL=2 ERROR=0 TOTAL=6")


def test_the_label_fails_when_not_ignored(tmp_path: Path, example_events: Path) -> None:
    root = example(tmp_path, example_events)
    path = root / "models" / "training_set.sql"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("as_of: {var: as_of_date, ignore: [subscribed]}",
                                 "as_of: {var: as_of_date}"))
    run, _ = audit(root, select=["training_set"])
    (result,) = run.results
    assert result.status == "fail"
    assert result.message.startswith("training_set.subscribed reads data at or after the "
                                     "cutoff (as_of_date = 2026-05-31): ")
    assert [line.split(":")[0] for line in result.details] == ["subscribed"]


# -- the no_leakage data test ---------------------------------------------------------------
AS_OF_LINE = "as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it\n"


def with_no_leakage(root: Path, test: str = "data_tests: [no_leakage]", *,
                    one_day_past: bool = False) -> Path:
    """The example with a no_leakage data test on user_purchases (line 4 of its file), its
    purchases read one day past the as-of date when ``one_day_past``."""
    path = root / "models" / "features" / "user_purchases.sql"
    text = path.read_text(encoding="utf-8")
    assert AS_OF_LINE in text and USER_PURCHASES_OLD in text
    text = text.replace(AS_OF_LINE, AS_OF_LINE + test + "\n")
    if one_day_past:
        text = text.replace(USER_PURCHASES_OLD, USER_PURCHASES_ONE_DAY_PAST)
    path.write_text(text, encoding="utf-8")
    return root


def run_results(root: Path) -> dict[str, dict]:
    results = json.loads((root / "target" / "run_results.json").read_text())
    validate(results, "run-results_v6.json")
    return {r["unique_id"].split(".")[-1]: r for r in results["results"]}


def test_no_leakage_passes_in_runner_build_and_runner_test(tmp_path: Path, capsys,
                                                          example_events: Path) -> None:
    root = with_no_leakage(example(tmp_path, example_events))
    assert main(["build", "--project-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "PASS test no_leakage_user_purchases " in out
    built = run_results(root)
    test = built["no_leakage_user_purchases"]
    assert (test["status"], test["failures"], test["message"]) == (
        "pass", 0, "4 column(s) unchanged in 376 rows")
    assert built["training_set"]["status"] == "success"
    assert main(["test", "--project-dir", str(root), "-s", "user_purchases"]) == 0
    assert "PASS test no_leakage_user_purchases " in capsys.readouterr().out
    assert run_results(root)["no_leakage_user_purchases"]["status"] == "pass"
    compiled = root / "target" / "compiled" / "local" / "tests" / "no_leakage_user_purchases.sql"
    assert compiled.read_text().startswith(
        "-- no_leakage test of user_purchases (models/features/user_purchases.sql:4): the query "
        "audited on a scratch DuckDB\n")


COLUMNS = ("user_purchases.revenue_30d, user_purchases.revenue_90d, "
           "user_purchases.avg_order_value_90d, user_purchases.revenue_to_date")


def test_a_failing_no_leakage_test_stops_the_descendants(tmp_path: Path, capsys,
                                                        example_events: Path) -> None:
    root = with_no_leakage(example(tmp_path, example_events), one_day_past=True)
    assert main(["build", "--project-dir", str(root)]) == 1
    out = capsys.readouterr().out
    message = (f"{COLUMNS} read data at or after the cutoff (as_of_date = 2026-05-31): 5 of "
               "376 rows affected")
    lines = [line.strip() for line in out.splitlines()]
    at = lines.index(f"models/features/user_purchases.sql:4: {message}")
    assert "FAIL test no_leakage_user_purchases ." in lines[at - 1]
    assert "[FAIL 5 in " in lines[at - 1]
    assert lines[at + 1:at + 5] == [
        f"{c}: 5 rows differ with the rows at or after the cutoff removed, 5 with them perturbed"
        for c in ("revenue_30d", "revenue_90d", "avg_order_value_90d", "revenue_to_date")]
    built = run_results(root)
    test = built["no_leakage_user_purchases"]
    assert (test["status"], test["failures"], test["message"]) == ("fail", 5, message)
    assert built["user_purchases"]["status"] == "success"
    assert (built["training_set"]["status"], built["training_set"]["message"]) == (
        "skipped", "skipped: upstream model 'user_purchases' failed a data test")
    assert built["user_recency"]["status"] == "success"  # not a descendant
    assert main(["test", "--project-dir", str(root), "-s", "user_purchases"]) == 1


def test_a_warn_no_leakage_test_lets_the_build_go_on(tmp_path: Path, capsys,
                                                    example_events: Path) -> None:
    root = with_no_leakage(example(tmp_path, example_events),
                           "data_tests:\n  - no_leakage: {config: {severity: warn}}",
                           one_day_past=True)
    assert main(["build", "--project-dir", str(root)]) == 0
    assert "WARN test no_leakage_user_purchases " in capsys.readouterr().out
    built = run_results(root)
    assert built["no_leakage_user_purchases"]["status"] == "warn"
    assert built["no_leakage_user_purchases"]["message"].startswith(COLUMNS + " read data")
    assert built["training_set"]["status"] == "success"


@pytest.mark.parametrize("block, message", [
    ("data_tests: [no_leakage]",
     "models/spend.sql:2: config block: no_leakage: the model has no as_of config, so there is "
     "no cutoff to audit; add as_of: {var: as_of_date} (the var holding the as-of date)"),
    ("as_of: as_of\ndata_tests:\n  - no_leakage: {config: {where: \"spend > 0\"}}",
     "models/spend.sql:4: config block: data_tests[0].config.where: no_leakage audits every "
     "row of the model; remove where"),
    ("as_of: as_of\ncolumns:\n  spend: {data_tests: [no_leakage]}",
     "models/spend.sql:4: config block: columns.spend.data_tests[0]: unknown data test "
     "'no_leakage' (no_leakage tests the whole model: put it under the model's data_tests) "
     "(allowed: not_null, unique, accepted_values, relationships)"),
])
def test_no_leakage_declaration_errors(shop: Path, capsys, block: str, message: str) -> None:
    write(shop, "models/spend.sql", f"/* config\n{block}\n*/\n"
          "SELECT user_id, SUM(amount) AS spend FROM events GROUP BY user_id\n")
    assert main(["build", "--project-dir", str(shop)]) == 2
    assert capsys.readouterr().err == f"Error: {message}\n"


# -- on the emulated Data Distiller: a sample of the sources --------------------------------
DEMO = Path(__file__).resolve().parent.parent / "examples" / "distiller_demo"
PURCHASES_OLD = "FROM stg_events\nWHERE event_type = 'purchase'"
PURCHASES_ONE_DAY_PAST = ("FROM web_events\nWHERE ts < CAST(date_add(CAST(var('as_of_date') AS "
                          "DATE), 1) AS TIMESTAMP) AND event_type = 'purchase'")


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - (root, sent)
    """examples/distiller_demo on the emulated Data Distiller, with every statement the
    adapter reads with recorded."""
    from aep_emulator import Emulator
    from emulator_fixtures import PG_DSN, require_postgres
    from runner.adapters.data_distiller import DataDistillerAdapter

    require_postgres()
    sent: list[str] = []
    real = DataDistillerAdapter.fetch_arrow

    def recording(self, sql: str):  # noqa: ANN001, ANN202 - the real call, recorded
        sent.append(sql)
        return real(self, sql)

    monkeypatch.setattr(DataDistillerAdapter, "fetch_arrow", recording)
    with Emulator(engine_dsn=PG_DSN) as emu:
        emu.run_sql((DEMO / "seed.sql").read_text())
        for key, value in emu.environment().items():
            monkeypatch.setenv(key, value)
        root = tmp_path / "distiller_demo"
        shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("target"))
        yield root, sent


def seed_events() -> list[tuple[str, str, datetime.datetime]]:
    """examples/distiller_demo/seed.sql's web_events (user_id, event_type, ts), in Python."""
    types = ["page_view", "product_view", "email_click", "purchase", "subscribe"]
    start = datetime.datetime(2026, 4, 1)
    return [(f"c{1 + (n * 37) % 200:03d}", types[(n * 7 + n // 11) % 5],
             start + datetime.timedelta(minutes=n * 613 % (91 * 24 * 60)))
            for n in range(1, 6001)]


def bought_on_the_as_of_date(users: set[str] | None = None) -> int:
    """How many users bought on 2026-05-31: what a read one day past the cutoff adds."""
    day = datetime.datetime(2026, 5, 31)
    return len({u for u, kind, ts in seed_events() if kind == "purchase"
                and day <= ts < day + datetime.timedelta(days=1)
                and (users is None or u in users)})


def first_by_md5(count: int) -> list[str]:
    """The seed's customer ids (every web_events user is one), ordered by md5 as Python has it."""
    ids = [f"c{i:03d}" for i in range(1, 201)]
    return sorted(ids, key=lambda i: hashlib.md5(i.encode()).hexdigest())[:count]  # noqa: S324


@pytest.mark.postgres
def test_data_distiller_is_audited_on_a_sample_of_entities(demo, capsys) -> None:
    root, sent = demo
    assert main(["test", "--leakage", "--project-dir", str(root), "--sample", "50"]) == 0
    out = capsys.readouterr().out
    ids = first_by_md5(50)
    listed = ", ".join(f"'{i}'" for i in ids)
    assert sent == [
        'SELECT entity FROM (SELECT DISTINCT user_id AS entity FROM customers UNION SELECT '
        'DISTINCT user_id AS entity FROM web_events) AS entities WHERE entity IS NOT NULL ORDER BY '
        "md5(concat(entity, '')) LIMIT 50",
        f'SELECT * FROM customers WHERE user_id IN ({listed})',
        f'SELECT * FROM web_events WHERE user_id IN ({listed})']
    assert ("Copying a sample of 50 entities (the first 50 ids by md5) from target 'emulated' "
            "(data_distiller): every row of each") in out
    # every event of a sampled user is kept
    sampled = [e for e in seed_events() if e[0] in set(ids)]
    after = sum(ts >= datetime.datetime(2026, 5, 31) for _, _, ts in sampled)
    assert (after, len(sampled)) == (504, 1500)
    assert "  source web_events: 504 of 1,500 rows at or after the cutoff (ts)\n" in out
    assert "  source customers: 8 of 50 rows at or after the cutoff (signup_date)\n" in out
    for model in ("event_counts", "purchases", "recency", "training_set"):
        assert f"PASS leakage {model} ." in out
    assert out.rstrip().endswith("Leakage: PASS=4 FAIL=0 ERROR=0 TOTAL=4")
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    assert results[-1]["message"] == (
        "7 column(s) unchanged in 42 rows, on a sample of 50 entities")


@pytest.mark.postgres
def test_a_demo_feature_reading_past_the_cutoff_fails_on_the_sample(demo, capsys) -> None:
    root, _ = demo
    assert bought_on_the_as_of_date(set(first_by_md5(50))) == 2
    path = root / "models" / "features" / "purchases.sql"
    assert PURCHASES_OLD in path.read_text()
    path.write_text(path.read_text().replace(PURCHASES_OLD, PURCHASES_ONE_DAY_PAST))
    assert main(["test", "--leakage", "--project-dir", str(root), "--sample", "50"]) == 1
    out = capsys.readouterr().out
    assert ("    models/features/purchases.sql: purchases.purchases, purchases.purchase_value read "
            "data at or after the cutoff (as_of_date = 2026-05-31): 2 of 50 rows affected, on a "
            "sample of 50 entities\n") in out
    assert ("    models/training_set.sql: training_set.purchases, training_set.purchase_value "
            "read data at or after the cutoff (as_of_date = 2026-05-31): 1 of 42 rows affected, "
            "on a sample of 50 entities\n") in out
    assert out.rstrip().endswith("Leakage: PASS=2 FAIL=2 ERROR=0 TOTAL=4")


@pytest.mark.postgres
def test_a_no_leakage_data_test_on_data_distiller_samples_and_stops_the_descendants(
        demo, capsys) -> None:
    root, sent = demo
    path = root / "models" / "features" / "purchases.sql"
    text = path.read_text()
    path.write_text(text.replace("as_of: as_of_date", "as_of: as_of_date\ndata_tests: "
                                 "[no_leakage]").replace(PURCHASES_OLD, PURCHASES_ONE_DAY_PAST))
    assert main(["build", "--project-dir", str(root), "--no-export"]) == 1
    capsys.readouterr()
    built = run_results(root)
    test = built["no_leakage_purchases"]
    # the default sample of 1,000 takes all 200 users: the audit sees every row
    affected = bought_on_the_as_of_date()
    assert affected == 6
    assert (test["status"], test["failures"], test["message"]) == (
        "fail", affected, "purchases.purchases, purchases.purchase_value read data at or after "
        f"the cutoff (as_of_date = 2026-05-31): {affected} of 200 rows affected, on a sample of "
        "200 entities")
    assert built["training_set"]["status"] == "skipped"
    assert built["event_counts"]["status"] == "success"
    assert sent.count('SELECT entity FROM (SELECT DISTINCT user_id AS entity FROM web_events) AS '
                      "entities WHERE entity IS NOT NULL ORDER BY md5(concat(entity, '')) "
                      "LIMIT 1000") == 1


@pytest.mark.postgres
def test_a_sample_past_the_interactive_row_limit_is_a_run_error(demo, capsys,
                                                                monkeypatch) -> None:
    root, sent = demo
    monkeypatch.setattr("runner.adapters.data_distiller.INTERACTIVE_ROW_LIMIT", 1000)
    assert main(["test", "--leakage", "--project-dir", str(root), "--sample", "50"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: the point-in-time audit's sample: source web_events: ")
    assert "more than 1,000 rows" in err
    assert err.endswith("; for the audit, a smaller --sample reads fewer rows\n")
    assert len(err.splitlines()) == 1
