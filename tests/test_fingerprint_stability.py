"""A model's fingerprint follows what it computes, not how its file is laid out.

The same project is compiled on DuckDB and on PostgreSQL, then with every file reformatted
(whitespace, line breaks, comments, keyword and function-name case, the config block's YAML
layout): no fingerprint changes, and a build afterwards runs nothing. A real edit changes the
edited model's fingerprint and its descendants', and only theirs.

    stg_orders -> big_orders -> summary <- users_clean <- raw_users
"""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from emulator_fixtures import PG_DSN, require_postgres
from runner import BuildOptions, build, open_session

PLAIN = {
    "stg_orders": """
        /* config
        materialized: view
        tags: [staging]
        */
        SELECT order_id, user_id, amount FROM raw_orders
        """,
    "users_clean": "SELECT user_id, upper(tier) AS tier FROM raw_users",
    "big_orders": """
        SELECT user_id, count(*) AS n_orders, sum(amount) AS total
        FROM stg_orders WHERE amount >= var('min_amount') GROUP BY user_id
        """,
    "summary": """
        SELECT b.user_id, u.tier, b.n_orders, b.total
        FROM big_orders b JOIN users_clean u ON b.user_id = u.user_id
        """,
}

REFORMATTED = {
    "stg_orders": """
        /* config
        tags:
          - staging        # the raw layer
        materialized:   view
        */
        -- one row per order
        select order_id,
               user_id,
               amount      /* in EUR */
        from raw_orders
        """,
    "users_clean": """
        SELECT
            user_id,
            UPPER(tier)   AS tier   -- gold, silver
        FROM
            raw_users
        """,
    "big_orders": """
        /* totals per user */
        select   user_id,
                 COUNT(*)    as n_orders,
                 Sum(amount) as total
          from stg_orders
         where amount>=var('min_amount')   -- the threshold
         group by user_id
        """,
    "summary": """
        select b.user_id, u.tier, b.n_orders, b.total from big_orders b
        join users_clean u
          on b.user_id = u.user_id
        """,
}


def write_models(project, models: dict[str, str]) -> None:
    for name, sql in models.items():
        project.model(name, sql)


def fingerprints(project, target: str | None = None) -> dict[str, str]:
    session = open_session(project.root, BuildOptions(target=target), echo=lambda line: None)
    session.adapter.close()
    return {m.name: m.fingerprint for m in session.plan}


@pytest.fixture
def pg_target(project):
    """The project with a `pg` target: a schema of its own holding the two raw tables."""
    require_postgres(PG_DSN)
    schema = f"fp_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"CREATE TABLE {schema}.raw_orders AS SELECT * FROM (VALUES (1, 'u1', 5.0), "
                    "(2, 'u1', 20.0), (3, 'u2', 30.0)) AS t(order_id, user_id, amount)")
        cur.execute(f"CREATE TABLE {schema}.raw_users AS SELECT * FROM (VALUES ('u1', 'gold'), "
                    "('u2', 'silver')) AS t(user_id, tier)")
    text = (project.root / "project.yml").read_text()
    project.write("project.yml", text + f"targets:\n  local: {{type: duckdb}}\n"
                                        f"  pg: {{type: postgres, dsn: '{PG_DSN}', "
                                        f"schema: {schema}}}\n")
    yield "pg"
    with admin.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.close()


def test_formatting_and_comments_change_no_fingerprint_on_duckdb(project) -> None:
    write_models(project, PLAIN)
    before = fingerprints(project)
    write_models(project, REFORMATTED)
    assert fingerprints(project) == before


@pytest.mark.postgres
def test_formatting_and_comments_change_no_fingerprint_on_postgres(project, pg_target) -> None:
    write_models(project, PLAIN)
    before = fingerprints(project, pg_target)
    write_models(project, REFORMATTED)
    assert fingerprints(project, pg_target) == before
    assert before != fingerprints(project)  # the target's dialect is part of the SQL hashed


def test_a_real_edit_changes_the_model_and_its_descendants_only(project) -> None:
    write_models(project, PLAIN)
    before = fingerprints(project)
    project.model("big_orders", PLAIN["big_orders"].replace(">=", ">"))
    after = fingerprints(project)
    assert {m for m in before if after[m] != before[m]} == {"big_orders", "summary"}


def test_a_build_after_a_formatting_only_edit_runs_nothing(project) -> None:
    write_models(project, PLAIN)
    first = build(project.root, echo=lambda line: None)
    assert first.ok
    write_models(project, REFORMATTED)
    second = build(project.root, echo=lambda line: None)
    assert {r.name: r.status for r in second.results} == dict.fromkeys(PLAIN, "noop")
    assert [r.physical for r in second.results] == [r.physical for r in first.results]
