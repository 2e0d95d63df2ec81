"""Unit tests of model logic (``runner test --unit``): fixture rows in, expected rows out, on
in-memory DuckDB through the build's compile.

A small shop project (two CSV sources, a model over one and a model reading that model and the
other) is tested passing and failing with the exact diff; bad unit test files fail at their
file and line; the example project's own unit tests pass, and fail when the logic they cover is
mutated.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.errors import ProjectError
from runner.run.events import EventLog
from runner.run.options import BuildOptions
from runner.run.unit_tests import run_unit_tests
from test_artifacts import validate
from test_example_project import REPO, copy_example

PROJECT = """
    name: shop
    vars: {min_amount: 0}
    sources:
      orders: {path: data/orders.csv}
      users: {path: data/users.csv}
"""

ORDER_TOTALS = """
    SELECT user_id, COUNT(*) AS orders, CAST(SUM(amount) AS DECIMAL(10, 2)) AS total,
           MAX(ordered_at) AS last_order_at
    FROM orders
    WHERE amount > var('min_amount')
    GROUP BY user_id
"""

USER_TIERS = """
    SELECT u.user_id, u.tier, COALESCE(t.orders, 0) AS orders, t.total
    FROM users AS u
    LEFT JOIN order_totals AS t ON t.user_id = u.user_id
"""

ORDERS_GIVEN = """\
- input: source('orders')
  rows:
    - {order_id: 1, user_id: u1, amount: 10.5, ordered_at: 2026-05-01 10:00:00}
    - {order_id: 2, user_id: u1, amount: 20.25, ordered_at: 2026-05-02 11:30:00}
    - {order_id: 3, user_id: u2, amount: 5, ordered_at: 2026-05-03 00:00:00}
    - {order_id: 4, user_id: u3, amount: -1, ordered_at: 2026-05-04 00:00:00}
"""  # the rows of the orders source most tests give (totals_test)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    files = {"project.yml": PROJECT, "models/order_totals.sql": ORDER_TOTALS,
             "models/user_tiers.sql": USER_TIERS,
             "data/orders.csv": "order_id,user_id,amount,ordered_at\n"
                                "1,u1,10.5,2026-05-01 10:00:00\n",
             "data/users.csv": "user_id,tier\nu1,gold\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def write_tests(root: Path, text: str, name: str = "shop.yml") -> Path:
    path = root / "unit_tests" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def totals_test(*expect: str, name: str = "totals_per_user", overrides: str = "") -> str:
    """A unit test of order_totals given ``ORDERS_GIVEN`` and expecting the rows ``expect``
    (YAML flow mappings), as an entry of a ``unit_tests:`` list."""
    lines = [f"  - name: {name}", "    model: order_totals",
             *([f"    overrides: {overrides}"] if overrides else []), "    given:",
             textwrap.indent(ORDERS_GIVEN, "      ").rstrip("\n"), "    expect:",
             "      rows:", *(f"        - {row}" for row in expect)]
    return "\n".join(lines) + "\n"


def run(root: Path, **options: object) -> tuple[object, list[str]]:
    lines: list[str] = []
    result = run_unit_tests(root, BuildOptions(**options), echo=lines.append)
    return result, lines


def test_passing_unit_test_reads_values_as_the_columns_types(shop: Path) -> None:
    write_tests(shop, "unit_tests:\n" + totals_test(
        "{user_id: u1, orders: 2, total: 30.750, last_order_at: 2026-05-02 11:30:00}",
        '{user_id: u2, orders: 1, total: "5", last_order_at: "2026-05-03T00:00:00"}'))
    result, lines = run(shop)
    assert [(r.test.name, r.status, r.failures) for r in result.results] == [
        ("totals_per_user", "pass", 0)]
    assert result.exit_code == 0
    assert lines[-1] == "Unit tests: PASS=1 FAIL=0 ERROR=0 TOTAL=1"
    # the model ran as a build compiles it: the dialect layer's DuckDB SQL over the source
    assert result.results[0].test.sql == (
        "SELECT user_id, COUNT(*) AS orders, TRY_CAST(SUM(amount) AS DECIMAL(10, 2)) AS total, "
        "MAX(ordered_at) AS last_order_at FROM orders WHERE amount > 0 GROUP BY user_id")


def test_failing_unit_test_shows_differing_missing_and_extra_rows(shop: Path) -> None:
    write_tests(shop, "unit_tests:\n" + totals_test("{user_id: u1, orders: 2, total: 30.00}",
                                                   "{user_id: u9, orders: 7, total: 1.00}"))
    result, lines = run(shop)
    (outcome,) = result.results
    assert (outcome.status, outcome.failures, result.exit_code) == ("fail", 3, 1)
    assert outcome.message == "1 row differs, 1 missing, 1 extra (2 rows expected, 2 produced)"
    assert outcome.details == [
        "differs: user_id='u1', orders=2: total expected 30.00, got 30.75",
        "missing: user_id='u9', orders=7, total=1.00",
        "extra:   user_id='u2', orders=1, total=5.00",
    ]
    assert lines[2].endswith("    unit_tests/shop.yml:2: 1 row differs, 1 missing, 1 extra "
                             "(2 rows expected, 2 produced)")
    assert lines[3].strip() == "differs: user_id='u1', orders=2: total expected 30.00, got 30.75"
    assert outcome.sample[0] == {
        "diff": "differs", "expected": {"user_id": "u1", "orders": 2, "total": Decimal("30.00")},
        "actual": {"user_id": "u1", "orders": 2, "total": Decimal("30.75")}}


def test_rows_are_a_multiset_and_omitted_columns_are_null(shop: Path) -> None:
    write_tests(shop, """
        unit_tests:
          - name: one_row_per_user
            model: user_tiers
            given:
              - input: users
                format: csv
                rows: |
                  user_id,tier
                  u1,gold
                  u1,gold
                  u2,
              - input: ref('order_totals')
                rows:
                  - {user_id: u1, orders: 3, total: 12.5}
            expect:
              rows:
                - {user_id: u1, tier: gold, orders: 3, total: 12.5}
                - {user_id: u2, orders: 0}
        """)
    result, _ = run(shop)
    (outcome,) = result.results
    # u1 is produced twice (two users rows) but expected once; u2's tier and total are NULL
    assert outcome.details == ["extra:   user_id='u1', tier='gold', orders=3, total=12.50"]
    assert outcome.message == "0 rows differ, 0 missing, 1 extra (2 rows expected, 3 produced)"


def test_inputs_not_given_are_empty_and_vars_can_be_overridden(shop: Path) -> None:
    write_tests(shop, textwrap.dedent("""
        unit_tests:
          - name: no_orders_no_totals
            model: user_tiers
            given:
              - input: users
                rows: [{user_id: u1, tier: gold}]
            expect:
              rows: [{user_id: u1, tier: gold, orders: 0, total: null}]
        """) + totals_test("{user_id: u1, total: 30.75}", name="min_amount_filters",
                          overrides="{vars: {min_amount: 10}}"))
    result, _ = run(shop)
    assert [(r.test.name, r.status) for r in result.results] == [
        ("no_orders_no_totals", "pass"), ("min_amount_filters", "pass")]


def test_decimals_are_never_rounded_to_match(shop: Path) -> None:
    write_tests(shop, "unit_tests:\n" + totals_test("{user_id: u1, total: 30.749}"))
    with pytest.raises(ProjectError) as err:
        run(shop)
    assert str(err.value) == ("unit_tests/shop.yml:13: expect, row 1: column 'total': 30.749 "
                              "is not a decimal(10, 2)")


def test_runner_test_unit_exit_codes_artifacts_and_events(shop: Path, capsys) -> None:
    write_tests(shop, "unit_tests:\n" + totals_test(
        "{user_id: u1, orders: 2}", "{user_id: u2, orders: 1}", name="passes") + totals_test(
        "{user_id: u1, orders: 1}", "{user_id: u2, orders: 1}", name="fails"))
    assert main(["test", "--unit", "--project-dir", str(shop)]) == 1
    out = capsys.readouterr().out
    assert "PASS unit test order_totals::passes" in out
    assert "FAIL unit test order_totals::fails" in out
    assert "      differs: user_id='u1': orders expected 1, got 2\n" in out
    assert "  order_totals::fails: unit_tests/shop.yml:15: 1 row differs, 0 missing, 0 extra " \
           "(2 rows expected, 2 produced)\n" in out
    results = json.loads((shop / "target" / "run_results.json").read_text())
    validate(results, "run-results_v6.json")
    assert results["args"]["which"] == "unit-test"
    assert [(r["unique_id"], r["status"], r["failures"]) for r in results["results"]] == [
        ("unit_test.shop.order_totals.passes", "pass", 0),
        ("unit_test.shop.order_totals.fails", "fail", 1)]
    assert results["results"][1]["adapter_response"]["sample"] == [
        {"diff": "differs", "expected": {"user_id": "u1", "orders": 1},
         "actual": {"user_id": "u1", "orders": 2}}]
    assert results["results"][1]["adapter_response"]["declared_at"] == "unit_tests/shop.yml:15"
    lines: list[str] = []
    run_unit_tests(shop, BuildOptions(), echo=lambda line: None, events=EventLog([lines.append]))
    events = [json.loads(line) for line in lines]
    assert [(e["event"], e["unique_id"], e["status"], e["failures"]) for e in events] == [
        ("test", "unit_test.shop.order_totals.passes", "pass", 0),
        ("test", "unit_test.shop.order_totals.fails", "fail", 1)]
    assert main(["test", "--unit", "--project-dir", str(shop), "-s", "order_totals",
                 "--exclude", "order_totals"]) == 0
    assert "Nothing to test: no unit test of the selected models (in unit_tests/)." in \
        capsys.readouterr().out


def test_unit_test_folder_is_configurable(shop: Path) -> None:
    (shop / "project.yml").write_text(textwrap.dedent(PROJECT) + "unit_test_paths: [checks]\n")
    write_tests(shop, """
        unit_tests:
          - name: empty
            model: order_totals
            expect: {rows: []}
        """, name="../checks/t.yml")
    result, _ = run(shop)
    assert [(r.test.path, r.status) for r in result.results] == [("checks/t.yml", "pass")]
    (shop / "project.yml").write_text(textwrap.dedent(PROJECT) + "unit_test_paths: [1]\n")
    with pytest.raises(ProjectError) as err:
        run(shop)
    assert str(err.value) == ("project.yml: unit_test_paths[0]: expected a folder relative to "
                              "the project, got int 1")


BAD_HEAD = "unit_tests:\n  - name: t\n"  # line 1 and 2 of each bad file below


@pytest.mark.parametrize("entry, message", [
    (["model: order_total", "expect: {rows: []}"],
     "unit_tests/shop.yml:3: model: 'order_total' is not a model (did you mean 'order_totals'?)"),
    (["model: order_totals", "expects: {rows: []}"],
     "unit_tests/shop.yml:4: a unit test: unknown key 'expects' (did you mean 'expect'?) "
     "(allowed: config, description, expect, given, model, name, overrides)"),
    (["model: order_totals", "given:", "  - {input: \"ref('order_total')\", rows: []}",
      "expect: {rows: []}"],
     "unit_tests/shop.yml:5: input: 'order_total' is not a model (did you mean "
     "'order_totals'?)"),
    (["model: order_totals", "given: [{input: users}]", "expect: {rows: []}"],
     "unit_tests/shop.yml:4: input: 'order_totals' does not read 'users'; its inputs are orders"),
    (["model: order_totals", "given:", "  - input: orders", "    rows:",
      "      - {order_id: 1}", "      - {order_id: 2, amout: 3}", "expect: {rows: []}"],
     "unit_tests/shop.yml:8: input orders, row 2: unknown column 'amout' (did you mean "
     "'amount'?) (columns: order_id, user_id, amount, ordered_at)"),
    (["model: order_totals", "given: [{input: orders, rows: [{order_id: one}]}]",
      "expect: {rows: []}"],
     "unit_tests/shop.yml:4: input orders, row 1: column 'order_id': 'one' is not a whole "
     "number"),
    (["model: order_totals", "expect:", "  rows:", "    - {user_id: u1, totl: 1}"],
     "unit_tests/shop.yml:6: expect, row 1: unknown column 'totl' (did you mean 'total'?) "
     "(columns: user_id, orders, total, last_order_at)"),
    (["model: order_totals", "given:", "  - input: orders", "    format: cvs",
      "expect: {rows: []}"],
     "unit_tests/shop.yml:6: format: 'cvs' is not one of dict, csv (did you mean 'csv'?)"),
    (["model: order_totals", "given:", "  - input: orders", "    format: csv", "    rows: |",
      "      order_id,user_id", "      1", "expect: {rows: []}"],
     "unit_tests/shop.yml:9: rows: CSV row 1 has 1 values for 2 columns (order_id, user_id)"),
    (["model: [x"], "unit_tests/shop.yml:4:1: not valid YAML"),
])
def test_bad_unit_test_files_name_the_file_and_line(shop: Path, capsys, entry: list[str],
                                                    message: str) -> None:
    write_tests(shop, BAD_HEAD + "".join(f"    {line}\n" for line in entry))
    assert main(["test", "--unit", "--project-dir", str(shop)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {message}"), err
    assert err.count("\n") == 1


def test_struct_columns_take_yaml_mappings(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "example")
    write_tests(root, """
        unit_tests:
          - name: bad_field
            model: stg_events
            given:
              - input: experience_events
                rows:
                  - {_id: e1, identityMap: {ECID: [{id: u1}]}, web: {webPageDetail: {name: x}}}
            expect: {rows: []}
        """)
    with pytest.raises(ProjectError) as err:
        run(root)
    assert str(err.value) == (
        "unit_tests/shop.yml:7: input experience_events, row 1: column 'web': struct field "
        "'webPageDetail' does not exist (did you mean 'webpagedetails'?) (fields: "
        "webPageDetails, webInteraction)")


# -- the example project's own unit tests ---------------------------------------------------
def example_with_tests(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "example")
    shutil.copytree(REPO / "unit_tests", root / "unit_tests")
    return root


def test_example_unit_tests_pass_quickly(tmp_path: Path) -> None:
    root = example_with_tests(tmp_path)
    began = time.monotonic()
    result, lines = run(root)
    seconds = time.monotonic() - began
    assert [(r.test.model, r.test.name, r.status) for r in result.results] == [
        ("user_recency", "minutes_since_last_event", "pass"),
        ("user_purchases", "revenue_windows", "pass"),
        ("user_purchases", "events_at_or_after_as_of_are_excluded", "pass"),
        ("subscription_labels", "subscribed_within_window", "pass"),
        ("stg_events", "flattens_xdm_events", "pass")], "\n".join(lines)
    print(f"\nexample unit tests: {seconds:.2f}s for {len(result.results)} (cold cache), "
          + ", ".join(f"{r.test.name} {r.seconds:.2f}s" for r in result.results))
    began = time.monotonic()
    again, _ = run(root)
    print(f"again (warm cache): {time.monotonic() - began:.2f}s, "
          + ", ".join(f"{r.test.name} {r.seconds:.2f}s" for r in again.results))


@pytest.mark.parametrize("path, old, new, test, diff", [
    ("models/staging/events_history.sql", "WHERE event_ts < as_of_ts()",
     "WHERE event_ts <= as_of_ts()", "events_at_or_after_as_of_are_excluded",
     ["differs: user_id='u1': revenue_30d expected 1.25, got 1001.25; revenue_90d expected "
      "1.25, got 1001.25; avg_order_value_90d expected 1.25, got 500.625; revenue_to_date "
      "expected 1.25, got 1001.25"]),
    ("models/features/user_purchases.sql", "p.age_days < 30 THEN p.order_total",
     "p.age_days <= 30 THEN p.order_total", "revenue_windows",
     ["differs: user_id='u1', revenue_90d=33.75, avg_order_value_90d=11.25, "
      "revenue_to_date=137.75: revenue_30d expected 10.5, got 13.5"]),
    ("models/features/user_recency.sql",
     "MIN(CASE WHEN event_type = 'directMarketing.emailOpened'",
     "MAX(CASE WHEN event_type = 'directMarketing.emailOpened'", "minutes_since_last_event",
     ["differs: user_id='u1', minutes_since_email_sent=NULL, minutes_since_page_view=43200.0, "
      "minutes_since_purchase=720.0, minutes_since_any_event=60.0: minutes_since_email_open "
      "expected 60.0, got 2880.0"]),
    ("models/labels/subscription_labels.sql", "s.first_subscribed_at < label_end_ts()",
     "s.first_subscribed_at <= label_end_ts()", "subscribed_within_window",
     ["differs: user_id='u7': subscribed expected 0, got 1"]),
    ("models/labels/subscription_labels.sql", "s.first_subscribed_at >= as_of_ts()",
     "s.first_subscribed_at > as_of_ts()", "subscribed_within_window",
     ["missing: user_id='u6', subscribed=1"]),
    ("models/staging/stg_events.sql", "identityMap['ECID'][0].id AS user_id",
     "identityMap['ECID'][1].id AS user_id", "flattens_xdm_events",
     ["differs: event_id='e1', event_type='web.webpagedetails.pageViews', "
      "event_ts=2026-05-30 10:00:00+00:00, page_name='home', order_total=NULL: user_id "
      "expected 'u1', got NULL",
      "differs: event_id='e2', event_type='commerce.purchases', event_ts=2026-05-30 "
      "11:00:00+00:00, page_name=NULL, order_total=42.5: user_id expected 'u1', got 'u9'"]),
])
def test_example_unit_tests_fail_when_the_logic_changes(tmp_path: Path, path: str, old: str,
                                                       new: str, test: str,
                                                       diff: list[str]) -> None:
    also = {}
    if path.endswith("events_history.sql"):  # the cutoff feeds the recency test too
        also = {"minutes_since_last_event": [
            "differs: user_id='u1', minutes_since_email_sent=NULL, minutes_since_email_open=60.0,"
            " minutes_since_purchase=720.0: minutes_since_page_view expected 43200.0, got 0.0; "
            "minutes_since_any_event expected 60.0, got 0.0"]}
    root = example_with_tests(tmp_path)
    text = (root / path).read_text(encoding="utf-8")
    assert old in text
    (root / path).write_text(text.replace(old, new), encoding="utf-8")
    result, lines = run(root)
    failed = {r.test.name: r.details for r in result.results if r.status != "pass"}
    assert failed == {test: diff, **also}, "\n".join(lines)
