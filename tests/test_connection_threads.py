"""One connection used from several threads of a kernel, and two connections in one process:
each call gives its own right answer, none disturbs another."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import runner


def test_queries_from_threads_share_one_connection(project) -> None:
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM raw_orders GROUP BY 1")
    conn = runner.connect(project.root)
    conn.build(echo=lambda line: None)
    queries = {"u1": 25.0, "u2": 30.0, "u3": 20.0}

    def ask(user: str) -> float:
        return conn.query(f"SELECT total FROM totals WHERE user_id = '{user}'")["total"][0]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, [u for _ in range(8) for u in queries]))
    assert answers == [queries[u] for _ in range(8) for u in queries]
    conn.close()


def test_two_connections_in_one_process(project, tmp_path) -> None:
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM raw_orders GROUP BY 1")
    first, second = runner.connect(project.root), runner.connect(str(project.root))
    assert first.build(echo=lambda line: None).ok
    assert second.build(echo=lambda line: None).exit_code == 0  # again: all up to date
    assert first.query("SELECT count(*) AS n FROM totals")["n"][0] == 3
    second.close()
    assert first.table("totals")["total"].sum() == 75.0  # closing one leaves the other alone
    first.close()
