"""A connection in a notebook shows the project: its target, a summary of the DAG and a table of
the models with their current versions, read without connecting to the target."""

from __future__ import annotations

import runner


def test_a_connection_shows_the_project_in_a_notebook(project) -> None:
    project.model("stg", "/* config\nmaterialized: view\ndescription: orders <clean>\n*/\n"
                         "SELECT order_id, user_id, amount FROM raw_orders")
    project.model("totals", "SELECT s.user_id, sum(s.amount) AS total, max(u.tier) AS tier "
                            "FROM stg s JOIN raw_users u ON s.user_id = u.user_id GROUP BY 1")
    with runner.connect(project.root) as conn:
        page = conn._repr_html_()
        assert page.startswith(
            "<p><b>demo</b> on target <code>local</code> (duckdb): 2 models (1 table, 1 view), "
            "0 built; 2 sources, 0 exports; DAG of 3 edges over 3 layers</p><table>")
        assert ("<tr><td>stg</td><td>view</td><td>1</td><td>raw_orders</td><td>not built</td>"
                "<td>orders &lt;clean&gt;</td></tr>") in page
        conn.build(echo=lambda line: None, select=["stg"])
        page = conn._repr_html_()
    assert "), 1 built;" in page
    current = page.split("<td>stg</td>")[1].split("</tr>")[0]
    assert "<td>stg__" in current
    assert ("<tr><td>totals</td><td>table</td><td>2</td><td>raw_users, stg</td>"
            "<td>not built</td><td></td></tr>") in page


def test_a_broken_project_shows_its_error(project) -> None:
    project.model("bad", "SELECT * FROM nowhere")
    page = runner.connect(project.root)._repr_html_()
    assert page.startswith("<p><b>Error</b>: models/bad.sql:1:15: unknown table &#x27;nowhere&#x27; — not a model")
