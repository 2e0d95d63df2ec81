"""``runner plan`` (and ``runner build --dry-run``): what a build would run and why, one line per
model, with nothing run on the target.

    events (a CSV file) -> event_counts
    raw_orders -> stg_orders (view) -> big_orders -> summary <- users_clean <- raw_users
"""

from __future__ import annotations

import json

import pytest

from runner import BuildOptions, build, plan
from runner.adapters.duckdb import DuckDBAdapter
from runner.cli.main import main

STG_ORDERS = "/* config\nmaterialized: view\n*/\nSELECT order_id, user_id, amount FROM raw_orders"
BIG_ORDERS = """
    SELECT user_id, count(*) AS n_orders, sum(amount) AS total
    FROM stg_orders WHERE amount >= var('min_amount') GROUP BY user_id
    """
SUMMARY = """
    SELECT b.user_id, u.tier, b.n_orders, b.total
    FROM big_orders b JOIN users_clean u ON b.user_id = u.user_id
    """
UP_TO_DATE = ["event_counts: up to date", "stg_orders: up to date", "big_orders: up to date",
              "users_clean: up to date", "summary: up to date"]


@pytest.fixture
def shop(project):
    project.write("project.yml", (project.root / "project.yml").read_text()
                  + "  events: {path: data/events.csv}\n")
    project.write("data/events.csv", "user_id,kind\nu1,view\nu2,view\n")
    project.model("stg_orders", STG_ORDERS)
    project.model("users_clean", "SELECT user_id, upper(tier) AS tier FROM raw_users")
    project.model("big_orders", BIG_ORDERS)
    project.model("summary", SUMMARY)
    project.model("event_counts", "SELECT user_id, count(*) AS n FROM events GROUP BY user_id")
    return project


def quiet(line: str) -> None:
    pass


def run_build(project, **options) -> dict[str, str]:
    result = build(project.root, BuildOptions(**options), echo=quiet)
    assert result.ok
    return {r.name: r.status for r in result.results}


def lines(project, **options) -> list[str]:
    return plan(project.root, BuildOptions(**options), echo=quiet).lines()


def est(project, *names: str) -> str:
    """How the plan shows the models' last build time, as the target's state recorded it."""
    state = json.loads((project.root / "target/state/local.json").read_text())
    return f"{sum(state['models'][n]['seconds'] for n in names):.2f}s"


def relations(project) -> set[tuple[str, str]]:
    return set(project.sql("SELECT table_name, table_type FROM information_schema.tables"))


def target_files(project) -> dict[str, bytes]:
    """Every file under target/ but the database, which is compared by its relations, and the
    parse and compile cache (what a plan may keep: it changes no result)."""
    folder = project.root / "target"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("local.duckdb")
            and p.relative_to(folder).parts[0] != "cache"}


def forbid_statements(monkeypatch) -> None:
    """From now on, any statement the DuckDB adapter is asked to run fails the test (queries
    that read, such as the listing of relations, are fine)."""
    def refuse(self, sql, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        raise AssertionError(f"the plan ran a statement: {sql}")
    for method in ("execute", "materialize", "load_arrow"):
        monkeypatch.setattr(DuckDBAdapter, method, refuse)


def test_on_a_fresh_target_every_model_is_new_and_nothing_is_created(shop, monkeypatch) -> None:
    before = relations(shop)
    forbid_statements(monkeypatch)
    assert lines(shop) == [
        "event_counts: new (never built on this target); est. unknown",
        "stg_orders: new (never built on this target); est. unknown",
        "big_orders: new (never built on this target); est. unknown",
        "users_clean: new (never built on this target); est. unknown",
        "summary: new (never built on this target); est. unknown",
        "Would run 5 of 5 model(s) on target 'local' (est. unknown); nothing was run.",
    ]
    assert relations(shop) == before  # not even the file source's view
    assert target_files(shop) == {}   # no state, manifest, run results or compiled SQL


def test_after_a_build_every_model_is_up_to_date(shop, monkeypatch) -> None:
    run_build(shop)
    forbid_statements(monkeypatch)
    assert lines(shop) == [
        *UP_TO_DATE, "Nothing to do on target 'local': every selected model is up to date."]


def test_sql_changed_and_upstream_changed_with_estimates(shop, monkeypatch) -> None:
    run_build(shop)
    shop.model("big_orders", BIG_ORDERS.replace(">=", ">"))
    before, files = relations(shop), target_files(shop)
    forbid_statements(monkeypatch)
    assert lines(shop) == [
        "event_counts: up to date",
        "stg_orders: up to date",
        f"big_orders: SQL changed; est. {est(shop, 'big_orders')}",
        "users_clean: up to date",
        f"summary: upstream changed (big_orders); est. {est(shop, 'summary')}",
        f"Would run 2 of 5 model(s) on target 'local' (est. "
        f"{est(shop, 'big_orders', 'summary')}); nothing was run.",
    ]
    assert relations(shop) == before and target_files(shop) == files  # no version, no file
    monkeypatch.undo()
    statuses = run_build(shop)  # the build runs what the plan said
    assert [n for n, s in statuses.items() if s == "success"] == ["big_orders", "summary"]


def test_config_changed(shop, monkeypatch) -> None:
    run_build(shop)
    shop.model("stg_orders", STG_ORDERS.replace("materialized: view", "materialized: table"))
    forbid_statements(monkeypatch)
    assert lines(shop)[1:3] == [f"stg_orders: config changed; est. {est(shop, 'stg_orders')}",
                               f"big_orders: upstream changed (stg_orders); est. "
                               f"{est(shop, 'big_orders')}"]


def test_data_changed_names_the_source(shop, monkeypatch) -> None:
    run_build(shop)
    shop.write("data/events.csv", "user_id,kind\nu1,view\nu2,view\nu3,click\n")
    forbid_statements(monkeypatch)
    assert lines(shop)[0] == (f"event_counts: data changed (events); est. "
                              f"{est(shop, 'event_counts')}")
    assert sum(" up to date" in line for line in lines(shop)) == 4


def test_full_refresh_forces_every_selected_model_and_persists_nothing(shop, monkeypatch) -> None:
    run_build(shop)
    files = target_files(shop)
    forbid_statements(monkeypatch)
    assert lines(shop, full_refresh=True, select=["+summary"]) == [
        f"stg_orders: forced (--full-refresh); est. {est(shop, 'stg_orders')}",
        f"big_orders: forced (--full-refresh); est. {est(shop, 'big_orders')}",
        f"users_clean: forced (--full-refresh); est. {est(shop, 'users_clean')}",
        f"summary: forced (--full-refresh); est. {est(shop, 'summary')}",
        f"Would run 4 of 4 model(s) on target 'local' (est. "
        f"{est(shop, 'stg_orders', 'big_orders', 'users_clean', 'summary')}); nothing was run.",
    ]
    assert target_files(shop) == files  # the refresh generations were not bumped for good
    assert lines(shop)[:-1] == UP_TO_DATE


def test_an_earlier_full_refresh_that_failed_still_forces_its_model(shop) -> None:
    run_build(shop)
    shop.model("summary", SUMMARY.replace("b.total", "b.total / 'x'"))  # fails on DuckDB
    build(shop.root, BuildOptions(full_refresh=True, select=["summary"]), echo=quiet)
    shop.model("summary", SUMMARY)
    assert lines(shop)[4] == ("summary: forced (an earlier --full-refresh); est. "
                              f"{est(shop, 'summary')}")


def test_formatting_only_edits_leave_a_model_up_to_date_and_unnamed(shop) -> None:
    run_build(shop)
    shop.model("summary", """
        -- reformatted
        select b.user_id, u.tier, b.n_orders, b.total   /* four columns */
          from big_orders b
          join users_clean u on b.user_id=u.user_id
        """)
    shop.model("big_orders", "/* totals */ " + BIG_ORDERS.replace("\n", "\n   "))
    assert lines(shop)[:-1] == UP_TO_DATE
    shop.model("big_orders", BIG_ORDERS.replace("count(*)", "count(order_id)"))
    assert lines(shop)[4] == f"summary: upstream changed (big_orders); est. {est(shop, 'summary')}"


def test_an_edited_ephemeral_parent_is_named_as_upstream(shop) -> None:
    shop.model("top_user", "/* config\nmaterialized: ephemeral\n*/\n"
                           "SELECT user_id FROM big_orders ORDER BY total DESC LIMIT 1")
    shop.model("top_summary",
               "SELECT * FROM summary WHERE user_id IN (SELECT user_id FROM top_user)")
    run_build(shop)
    shop.model("top_user", "/* config\nmaterialized: ephemeral\n*/\n"
                           "SELECT user_id FROM big_orders ORDER BY n_orders DESC LIMIT 1")
    assert lines(shop, select=["top_summary"]) == [
        f"top_summary: upstream changed (top_user); est. {est(shop, 'top_summary')}",
        f"Would run 1 of 1 model(s) on target 'local' (est. {est(shop, 'top_summary')}); "
        "nothing was run."]


def test_a_reverted_edit_moves_the_pointer_back_and_a_dropped_version_is_missing(shop) -> None:
    shop.write("project.yml", (shop.root / "project.yml").read_text() + "keep_versions: 2\n")
    run_build(shop)
    shop.model("users_clean", "SELECT user_id, lower(tier) AS tier FROM raw_users")
    run_build(shop)
    shop.model("users_clean", "SELECT user_id, upper(tier) AS tier FROM raw_users")
    result = plan(shop.root, echo=quiet)
    old = result.by_name()["users_clean"].physical
    assert result.lines()[3] == f"users_clean: up to date (its pointer moves back to {old})"
    summary = result.by_name()["summary"].physical  # built from that version, and kept too
    assert result.lines()[4] == f"summary: up to date (its pointer moves back to {summary})"
    shop.model("users_clean", "SELECT user_id, lower(tier) AS tier FROM raw_users")
    current = plan(shop.root, echo=quiet).by_name()["users_clean"].physical
    shop.sql(f"DROP TABLE {current} CASCADE")
    assert lines(shop)[3] == (f"users_clean: missing on the target (its version {current} was "
                              f"dropped); est. {est(shop, 'users_clean')}")


def test_plan_and_build_dry_run_print_the_same_lines_and_exit_0(shop, capsys) -> None:
    run_build(shop)
    shop.model("big_orders", BIG_ORDERS.replace(">=", ">"))
    assert main(["plan", "--project-dir", str(shop.root), "--select", "big_orders+"]) == 0
    planned = capsys.readouterr().out
    assert main(["build", "--dry-run", "--project-dir", str(shop.root), "-s", "big_orders+"]) == 0
    assert capsys.readouterr().out == planned
    assert planned.splitlines() == [
        f"big_orders: SQL changed; est. {est(shop, 'big_orders')}",
        f"summary: upstream changed (big_orders); est. {est(shop, 'summary')}",
        f"Would run 2 of 2 model(s) on target 'local' (est. {est(shop, 'big_orders', 'summary')})"
        "; nothing was run."]
    assert [r.name for r in build(shop.root, echo=quiet).results
            if r.status == "success"] == ["big_orders", "summary"]  # the dry run ran nothing


def test_a_project_error_in_plan_is_one_line_exit_2(shop, capsys) -> None:
    shop.model("summary", "SELECT * FROM big_order")
    assert main(["plan", "--project-dir", str(shop.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: models/summary.sql:1:15: unknown table 'big_order'")
    assert err.count("\n") == 1
