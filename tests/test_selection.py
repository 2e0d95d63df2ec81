"""dbt's selection grammar over a small graph.

    raw_orders -> stg -> a -> c -> e
                     \\-> b -/
    raw_users  -> users -> d        (d reads users and a)
"""

from __future__ import annotations

import pytest

from runner.errors import ProjectError
from runner.project.loader import load
from runner.graph.selection import select


@pytest.fixture
def graph(project):
    project.model("stg", "/* config\ntags: [staging]\n*/\nSELECT * FROM raw_orders",
                  folder="models/staging")
    project.model("users", "/* config\ntags: [staging]\nmaterialized: view\n*/\n"
                           "SELECT * FROM raw_users", folder="models/staging")
    project.model("a", "SELECT * FROM stg", folder="models/features")
    project.model("b", "/* config\ntags: [daily]\n*/\nSELECT * FROM stg", folder="models/features")
    project.model("c", "/* config\ntags: [daily]\n*/\nSELECT * FROM a JOIN b USING (order_id)")
    project.model("d", "SELECT * FROM users JOIN a USING (user_id)")
    project.model("e", "SELECT * FROM c")
    loaded = load(project.root)

    def pick(sel: list[str] | None, exclude: list[str] | None = None) -> list[str]:
        return loaded.order(select(sel, exclude, loaded.dag, loaded.models))

    return pick


@pytest.mark.parametrize(("selectors", "expected"), [
    (None, ["stg", "a", "b", "c", "e", "users", "d"]),
    (["c"], ["c"]),
    (["+c"], ["stg", "a", "b", "c"]),
    (["c+"], ["c", "e"]),
    (["1+c"], ["a", "b", "c"]),
    (["stg+1"], ["stg", "a", "b"]),
    (["@a"], ["stg", "a", "b", "c", "e", "users", "d"]),
    (["tag:daily"], ["b", "c"]),
    (["tag:staging"], ["stg", "users"]),
    (["path:models/features"], ["a", "b"]),
    (["path:models/staging/users.sql"], ["users"]),
    (["source:raw_users+"], ["users", "d"]),
    (["config.materialized:view"], ["users"]),
    (["a b"], ["a", "b"]),                     # space = union inside one argument
    (["a", "e"], ["a", "e"]),                  # several arguments = union
    (["+c,tag:daily"], ["b", "c"]),            # comma = intersection
    (["stg+,path:models/features"], ["a", "b"]),
    (["[ab]"], ["a", "b"]),                    # glob on names
    (["STG"], ["stg"]),                        # case-insensitive
])
def test_select(graph, selectors, expected) -> None:
    assert graph(selectors) == expected


def test_exclude(graph) -> None:
    assert graph(["+c"], ["stg"]) == ["a", "b", "c"]
    assert graph(None, ["tag:staging", "e"]) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(("selectors", "message"), [
    (["cc"], "--select: 'cc' matches no model (did you mean 'c'?)"),
    (["tag:dayly"], "--select: 'tag:dayly' matches no model (did you mean 'daily'?)"),
    (["colour:red"], "--select: unknown selector method 'colour'"),
    (["a+b+"], "--select: cannot read selector 'a+b+'"),
])
def test_bad_selectors(graph, selectors, message) -> None:
    with pytest.raises(ProjectError) as info:
        graph(selectors)
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 2
