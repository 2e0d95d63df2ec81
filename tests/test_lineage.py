"""Column-level lineage: a golden case per SQL construct (``tests/fixtures/lineage``), then
lineage composed through a project's models (ephemeral ones and macros included), the manifest's
record of it, the compile cache, and ``runner lineage``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import sqlglot

from runner import BuildOptions, build
from runner.cli.main import main
from runner.compile.lineage import ALL, model_lineage, project_lineage
from runner.project.cache import Cache
from runner.project.loader import load

FIXTURES = Path(__file__).parent / "fixtures" / "lineage"


def _cases() -> list[tuple[str, dict, dict, str | None, str]]:
    """(name, parents, expected, warning, sql) of each block of constructs.sql."""
    cases = []
    for block in (FIXTURES / "constructs.sql").read_text().split("\n\n")[1:]:
        meta = dict(re.findall(r"^-- ([^:]+): (.*)$", block, re.M))
        parents = {}
        for part in meta.pop("parents").split(";"):
            name, _, cols = part.strip().partition("(")
            parents[name.strip().rstrip(" ?")] = (None if "?" in part else
                                                  [c.strip() for c in cols.rstrip(")").split(",")])
        name, warning = meta.pop("name"), meta.pop("warn", None)
        expected = {}
        for column, refs in meta.items():
            value, via = (sorted(r.strip() for r in side.split(",") if r.strip() not in ("-", ""))
                          for side in refs.split("|"))
            expected[column] = {"value": value, "via": via}
        sql = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
        cases.append((name, parents, expected, warning, sql))
    return cases


CASES = _cases()


@pytest.mark.parametrize("name, parents, expected, warning, sql", CASES,
                         ids=[c[0] for c in CASES])
def test_construct(name: str, parents: dict, expected: dict, warning: str | None,
                   sql: str) -> None:
    lineage = model_lineage(sqlglot.parse_one(sql, read="spark"), parents, "models/m.sql")
    got = {c: v.to_dict() for c, v in lineage.columns.items()}
    if lineage.rest is not None:
        got[ALL] = lineage.rest.to_dict()
    assert got == expected
    if warning is None:
        assert lineage.warnings == ()
    else:
        assert len(lineage.warnings) == 1
        assert lineage.warnings[0].startswith("models/m.sql: ")
        assert warning in lineage.warnings[0]


def test_fixture_covers_every_construct() -> None:
    names = " ".join(c[0] for c in CASES)
    for construct in ("CTE", "derived table", "join", "aggregate", "window", "UNION",
                      "INTERSECT", "EXCEPT", "SELECT *", "USING", "nested XDM", "unknown"):
        assert construct in names


def _layered(project) -> None:
    """raw_orders -> ephemeral paid (a macro in its filter) -> user_totals -> wide (SELECT *)."""
    project.write("macros/money.sql", "CREATE FUNCTION cents(x) RETURN CAST(x * 100 AS INT);\n")
    project.model("paid", """
        /* config
        materialized: ephemeral
        */
        SELECT user_id, cents(amount) AS amount_cents FROM raw_orders WHERE amount > var('min_amount')
        """)
    project.model("user_totals", """
        SELECT p.user_id, SUM(p.amount_cents) AS total_cents, COUNT(*) AS orders
        FROM paid AS p GROUP BY p.user_id
        """)
    project.model("wide", """
        SELECT t.*, u.tier FROM user_totals AS t JOIN raw_users AS u ON u.user_id = t.user_id
        """)


def test_lineage_through_ephemeral_models_and_macros(project) -> None:
    _layered(project)
    lineage = project_lineage(load(project.root), {
        "raw_orders": ["order_id", "user_id", "amount"], "raw_users": ["user_id", "tier"]})
    assert lineage.columns("wide") == ["user_id", "total_cents", "orders", "tier"]
    assert lineage.trace("wide", "total_cents").to_dict() == {
        "value": ["raw_orders.amount"], "via": ["raw_orders.user_id", "raw_users.user_id"]}
    # COUNT(*) reads no column: only the filter, the grouping and the join decide it
    assert lineage.trace("wide", "orders").to_dict() == {
        "value": [], "via": ["raw_orders.amount", "raw_orders.user_id", "raw_users.user_id"]}
    assert lineage.trace("wide", "tier").to_dict() == {
        "value": ["raw_users.tier"],
        "via": ["raw_orders.amount", "raw_orders.user_id", "raw_users.user_id"]}
    # each model's own lineage names its direct parents, the ephemeral one included
    assert lineage.models["user_totals"].columns["total_cents"].value == {"paid.amount_cents"}
    assert lineage.warnings == []


def test_unknown_source_columns_warn_and_stay_conservative(project) -> None:
    _layered(project)
    lineage = project_lineage(load(project.root), {"raw_orders": ["user_id", "amount"]})
    # raw_users' columns are unknown: t.* still expands (user_totals is known), u.tier is a ref
    assert lineage.trace("wide", "tier").value == {"raw_users.tier"}
    project.model("everything", "SELECT * FROM raw_users")
    lineage = project_lineage(load(project.root), {"raw_orders": ["user_id", "amount"]})
    assert lineage.columns("everything") == []
    assert lineage.trace("everything", "anything").value == {"raw_users.*"}
    assert lineage.warnings == [
        "models/everything.sql: SELECT * over raw_users, whose columns are unknown: its "
        "columns are taken to derive from every field of raw_users; declare them under "
        "`sources.<name>.columns` in project.yml (or build once) to trace them"]


def test_lineage_is_cached_per_model(project, tmp_path: Path) -> None:
    _layered(project)
    columns = {"raw_orders": ["user_id", "amount"], "raw_users": ["user_id", "tier"]}
    cache = Cache(tmp_path / "cache")
    first = project_lineage(load(project.root), columns, cache)
    assert (cache.hits, cache.misses) == (0, 3)
    again = Cache(tmp_path / "cache")
    second = project_lineage(load(project.root), columns, again)
    assert (again.hits, again.misses) == (3, 0)
    assert second.models == first.models
    # a new column upstream: user_totals and wide are analysed again (t.* reads it), paid too
    columns["raw_orders"].append("currency")
    third = Cache(tmp_path / "cache")
    project_lineage(load(project.root), columns, third)
    assert (third.hits, third.misses) == (2, 1)


def test_build_records_lineage_in_the_manifest(project) -> None:
    _layered(project)
    assert build(project.root, BuildOptions(), echo=lambda line: None).ok
    nodes = json.loads((project.root / "target" / "manifest.json").read_text())["nodes"]
    runner = nodes["model.demo.wide"]["meta"]["runner"]
    assert runner["lineage"]["total_cents"] == {
        "value": ["raw_orders.amount"], "via": ["raw_orders.user_id", "raw_users.user_id"]}
    assert list(runner["lineage"]) == ["user_id", "total_cents", "orders", "tier"]
    assert runner["labels"] == {}
    assert nodes["model.demo.paid"]["meta"]["runner"]["lineage"]["amount_cents"] == {
        "value": ["raw_orders.amount"], "via": []}


def test_runner_lineage_prints_each_hop(project, capsys) -> None:
    _layered(project)
    assert build(project.root, BuildOptions(), echo=lambda line: None).ok
    capsys.readouterr()
    assert main(["lineage", "wide.total_cents", "--project-dir", str(project.root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wide.total_cents",
        "└─ user_totals.total_cents",
        "   └─ paid.amount_cents",
        "      └─ raw_orders.amount (source)",
        "sources: raw_orders.amount",
        "via (join keys, filters, groupings): raw_orders.user_id, raw_users.user_id",
    ]
    assert main(["lineage", "wide.total_cents", "--via", "--project-dir",
                 str(project.root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wide.total_cents",
        "├─ user_totals.total_cents",
        "│  ├─ paid.amount_cents",
        "│  │  └─ raw_orders.amount (source)",
        "│  └─ paid.user_id via",
        "│     ├─ raw_orders.user_id (source)",
        "│     └─ raw_orders.amount (source) via",
        "├─ raw_users.user_id (source) via",
        "└─ user_totals.user_id via",
        "   └─ paid.user_id (see above)",
        "sources: raw_orders.amount",
        "via (join keys, filters, groupings): raw_orders.user_id, raw_users.user_id",
    ]


@pytest.mark.parametrize("arg, message", [
    ("wdie.tier", "Error: unknown model 'wdie' (did you mean 'wide'?); give MODEL.COLUMN, "
                  "e.g. training_set.user_id"),
    ("wide.teir", "Error: model wide has no column 'teir' (did you mean 'tier'?)"),
])
def test_runner_lineage_unknown_names(project, capsys, arg: str, message: str) -> None:
    _layered(project)
    assert main(["lineage", arg, "--project-dir", str(project.root)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [message]


def test_runner_lineage_on_the_example_project(tmp_path: Path, capsys) -> None:
    """The issue's example: the example project's declared source columns suffice."""
    repo, root = Path(__file__).resolve().parents[1], tmp_path / "example"
    root.mkdir()
    shutil.copy(repo / "project.yml", root)
    for folder in ("models", "macros"):
        shutil.copytree(repo / folder, root / folder)
    assert main(["lineage", "training_set.emails_opened_30d", "--project-dir", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "training_set.emails_opened_30d",
        "└─ user_event_counts.emails_opened_30d",
        "   ├─ events_history.age_days",
        "   │  └─ stg_events.event_ts",
        "   │     └─ experience_events.timestamp (source)",
        "   └─ events_history.event_type",
        "      └─ stg_events.event_type",
        "         └─ experience_events.eventType (source)",
        "sources: experience_events.eventType, experience_events.timestamp",
        "via (join keys, filters, groupings): experience_events.identityMap, "
        "experience_events.web.webPageDetails.name, profiles.extSourceSystemAudit.createdDate, "
        "profiles.identityMap",
    ]
