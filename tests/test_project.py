"""Loading a project: model discovery, config blocks, unknown tables, cycles, macros, vars."""

from __future__ import annotations

import pytest

from runner.errors import ProjectError
from runner import load


def test_models_sources_and_edges(project) -> None:
    project.model("stg_orders", "SELECT * FROM raw_orders")
    project.model("user_totals", "SELECT user_id, sum(amount) AS total FROM STG_ORDERS GROUP BY 1",
                  folder="models/features")
    loaded = load(project.root)
    assert sorted(loaded.models) == ["stg_orders", "user_totals"]
    assert loaded.models["user_totals"].path == "models/features/user_totals.sql"
    assert loaded.dag.edges() == [("source:raw_orders", "stg_orders"), ("stg_orders", "user_totals")]
    assert loaded.order() == ["stg_orders", "user_totals"]


def test_unknown_table_names_file_line_col_and_suggests(project) -> None:
    project.model("stg_orders", "SELECT * FROM raw_orders")
    project.model("bad", "SELECT *\nFROM stg_order")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == (
        "models/bad.sql:2:6: unknown table 'stg_order' — not a model or a declared source "
        "(did you mean 'stg_orders'?); add a models/<name>.sql file or declare it under sources: "
        "in project.yml")
    assert info.value.exit_code == 2


def test_cycle_is_reported_as_a_path_of_files(project) -> None:
    project.model("a", "SELECT * FROM c")
    project.model("b", "SELECT * FROM a")
    project.model("c", "SELECT * FROM b")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value).startswith(
        "models/a.sql: dependency cycle: models/a.sql -> models/b.sql -> models/c.sql -> "
        "models/a.sql")


def test_self_reference_is_a_cycle(project) -> None:
    project.model("a", "SELECT * FROM a")
    with pytest.raises(ProjectError, match=r"dependency cycle: models/a.sql -> models/a.sql"):
        load(project.root)


def test_duplicate_model_names_across_folders(project) -> None:
    project.model("Orders", "SELECT 1 AS x", folder="models/a")
    project.model("orders", "SELECT 2 AS x", folder="models/b")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert "model name 'orders' is used by two files: models/a/Orders.sql and " \
           "models/b/orders.sql" in str(info.value)


def test_model_named_like_a_source(project) -> None:
    project.model("raw_orders", "SELECT 1 AS x")
    with pytest.raises(ProjectError, match="models/raw_orders.sql: model 'raw_orders' has the "
                                           "name of a declared source"):
        load(project.root)


def test_config_block_is_read_and_validated(project) -> None:
    project.model("v", """
        /* config
        materialized: view
        tags: [staging, daily]
        description: a view
        columns: {user_id: the user}
        */
        SELECT user_id FROM raw_orders
        """)
    model = load(project.root).models["v"]
    assert model.config.materialized == "view"
    assert model.config.tags == ("staging", "daily")
    assert model.config.columns == {"user_id": "the user"}
    project.model("v", "/* config\nmaterialised: view\n*/\nSELECT 1 AS x")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == ("models/v.sql:2: config block: unknown key 'materialised' (did you "
                               "mean 'materialized'?) (allowed: as_of, columns, data_tests, "
                               "description, incremental, materialized, tags, tests, with)")


def test_config_block_bad_materialization(project) -> None:
    (project.root / "models").mkdir()
    (project.root / "models/v.sql").write_text("\n\n/* config\nmaterialized: snapshot\n*/\nSELECT 1 AS x")
    with pytest.raises(ProjectError, match=r"models/v.sql:3: config block: materialized: "
                                           r"'snapshot' is not one of table, view, ephemeral, "
                                           r"incremental"):
        load(project.root)


def test_plain_leading_comment_is_not_config(project) -> None:
    project.model("v", "/* just a note */\nSELECT 1 AS x")
    assert load(project.root).models["v"].config.materialized == "table"


def test_macros_expand_on_the_ast_and_nest(project) -> None:
    project.write("macros/ratios.sql", """
        CREATE FUNCTION safe_ratio(num, den) RETURN CASE WHEN den = 0 THEN NULL ELSE num / den END;
        CREATE FUNCTION pct(num, den) RETURN round(100 * safe_ratio(num, den), 1);
        """)
    project.model("m", "SELECT pct(sum(amount), count(*) + 1) AS p FROM raw_orders")
    query = load(project.root).queries["m"]
    assert query.sql(dialect="spark") == (
        "SELECT (ROUND(100 * (CASE WHEN (COUNT(*) + 1) = 0 THEN NULL ELSE (SUM(amount)) / "
        "(COUNT(*) + 1) END), 1)) AS p FROM raw_orders")


def test_macro_arity_unknown_var_and_recursion(project) -> None:
    project.write("macros/m.sql", """
        CREATE FUNCTION two(a, b) RETURN a + b;
        CREATE FUNCTION loop_a(x) RETURN loop_b(x);
        CREATE FUNCTION loop_b(x) RETURN loop_a(x);
        """)
    project.model("m", "SELECT two(1) AS x FROM raw_orders")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == ("models/m.sql:1:8: macro 'two' takes 2 argument(s) (a, b), got 1 "
                               "(defined in macros/m.sql:1)")
    project.model("m", "SELECT loop_a(1) AS x FROM raw_orders")
    with pytest.raises(ProjectError, match="macro recursion: loop_a -> loop_b -> loop_a"):
        load(project.root)
    project.model("m", "SELECT var('min_amout') AS x FROM raw_orders")
    with pytest.raises(ProjectError, match=r"models/m.sql:1:8: unknown var 'min_amout' "
                                           r"\(did you mean 'min_amount'\?\)"):
        load(project.root)


def test_macro_file_must_hold_function_definitions(project) -> None:
    project.write("macros/bad.sql", "SELECT 1")
    project.model("m", "SELECT 1 AS x")
    with pytest.raises(ProjectError, match=r"macros/bad.sql:1:1: a macro file holds statements of "
                                           r"the form CREATE FUNCTION"):
        load(project.root)


def test_macro_cannot_shadow_a_builtin(project) -> None:
    project.write("macros/bad.sql", "CREATE FUNCTION coalesce(a) RETURN a;")
    project.model("m", "SELECT 1 AS x")
    with pytest.raises(ProjectError, match="macro 'coalesce' has the name of a built-in function"):
        load(project.root)


def test_vars_become_literals_and_overrides_win(project) -> None:
    project.model("m", "SELECT * FROM raw_orders WHERE amount >= var('min_amount') "
                       "AND user_id <> var('skip', 'nobody')")
    assert load(project.root).queries["m"].sql(dialect="spark") == (
        "SELECT * FROM raw_orders WHERE amount >= 10 AND user_id <> 'nobody'")
    assert load(project.root, {"min_amount": 25, "skip": "u1"}).queries["m"].sql(
        dialect="spark") == "SELECT * FROM raw_orders WHERE amount >= 25 AND user_id <> 'u1'"


def test_macro_argument_string_with_a_table_name_is_not_an_edge(project) -> None:
    project.write("macros/m.sql", "CREATE FUNCTION tag(x) RETURN concat('from ', x);")
    project.model("m", "SELECT tag('raw_users') AS t FROM raw_orders")
    loaded = load(project.root)
    assert loaded.dag.parents("m") == ["source:raw_orders"]


def test_build_parents_look_through_ephemeral_models(project) -> None:
    project.model("stg", "/* config\nmaterialized: view\n*/\nSELECT * FROM raw_orders")
    project.model("eph1", "/* config\nmaterialized: ephemeral\n*/\nSELECT * FROM stg")
    project.model("eph2", "/* config\nmaterialized: ephemeral\n*/\nSELECT * FROM eph1")
    project.model("final", "SELECT * FROM eph2 JOIN raw_users USING (user_id)")
    loaded = load(project.root)
    assert loaded.model_parents("final") == ["eph2"]
    assert loaded.build_parents("final") == ["stg"]  # what must be built before final runs


def test_model_names_must_be_usable_table_names(project) -> None:
    project.model("my-model", "SELECT 1 AS x")
    with pytest.raises(ProjectError, match=r"models/my-model.sql: 'my-model' is not a usable model "
                                           r"name"):
        load(project.root)


def test_duplicate_key_in_a_config_block(project) -> None:
    project.model("m", "/* config\ntags: [a]\ntags: [b]\n*/\nSELECT 1 AS x")
    with pytest.raises(ProjectError, match=r"models/m.sql:3: config block: key 'tags' is given "
                                           r"twice"):
        load(project.root)


def test_an_export_must_name_a_model(project) -> None:
    project.model("training_set", "SELECT 1 AS x")
    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: training_sett\n    destination: {type: local}\n"))
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == ("project.yml: exports[0].model: 'training_sett' is not a model "
                               "(did you mean 'training_set'?)")


def test_recursion_inside_macros_is_reported_at_the_models_call(project) -> None:
    project.write("macros/m.sql", "CREATE FUNCTION a(x) RETURN b(x);\nCREATE FUNCTION b(x) RETURN a(x);")
    project.model("m", "SELECT 1 AS one,\n       a(2) AS x FROM raw_orders")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == "models/m.sql:2:8: macro recursion: a -> b -> a"


def test_parse_error_message_is_plain(project) -> None:
    project.model("m", "SELECT a FROM t WHERE (")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert "sqlglot" not in str(info.value) and "<class" not in str(info.value)
    assert str(info.value).startswith("models/m.sql:1:23: cannot parse SQL near '(': syntax error")


def test_a_parse_error_names_the_token_as_written(project) -> None:
    project.model("m", "SELECT FROM WHERE")
    with pytest.raises(ProjectError) as info:
        load(project.root)
    assert str(info.value) == ("models/m.sql:1:17: cannot parse SQL near 'WHERE': Expected "
                               "table name but got 'WHERE'")
