"""The compiled plan: one per command, read by every later step."""

from __future__ import annotations

from runner import BuildOptions, open_session

EPHEMERAL = "/* config\nmaterialized: ephemeral\n*/\n"


def test_plan_of_a_project_with_ephemeral_models(project) -> None:
    project.model("big", EPHEMERAL + "SELECT * FROM raw_orders WHERE amount > 10")
    project.model("users", EPHEMERAL + "SELECT * FROM raw_users")
    project.model("stg", "SELECT * FROM raw_orders")
    project.model("m", "WITH x AS (SELECT user_id FROM users) "
                       "SELECT b.order_id, s.amount FROM big AS b JOIN x USING (user_id) "
                       "JOIN stg AS s USING (order_id)")
    session = open_session(project.root, BuildOptions(select=["m"]))
    session.adapter.close()
    plan = session.plan
    assert plan.order == ["big", "stg", "users", "m"]
    assert plan.selected == ["m"]  # chosen and built
    m, stg = plan["m"], plan["stg"]
    assert m.parents == ["stg"] and not plan["big"].built
    # ephemeral models inlined in the order the text first names them, their reads included
    assert m.select_sql.startswith("WITH users AS (SELECT * FROM raw_users), "
                                   "big AS (SELECT * FROM raw_orders WHERE amount > 10), x AS ")
    assert m.reads == {"raw_orders", "raw_users", stg.physical}
    assert m.statements == [f"CREATE TABLE {m.physical} AS {m.select_sql}",
                            f"CREATE OR REPLACE VIEW m AS SELECT * FROM {m.physical}"]
    assert plan["big"].statements == []
