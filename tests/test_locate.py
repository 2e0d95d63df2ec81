"""Engine bind errors placed in the model's text (runner.compile.locate)."""

from __future__ import annotations

import pytest
import sqlglot

from runner.compile.locate import engine_error_position

TEXT = ("/* config\nmaterialized: table\n*/\n"
        "SELECT user_id, amout,\n"
        "       str_to_map(s) AS m, t.usr FROM raw AS t")


@pytest.mark.parametrize("message, where", [
    ('Binder Error: Referenced column "amout" not found in FROM clause!', (4, 17)),
    ('Binder Error: Table "t" does not have a column named "usr"', (5, 30)),
    ('Binder Error: Ambiguous reference to column name "user_id" (use: ...)', (4, 8)),
    ("Catalog Error: Scalar Function with name str_to_map does not exist!", (5, 8)),
    ('column "amout" does not exist', (4, 17)),
    ("column t.usr does not exist", (5, 30)),
    ("function str_to_map(text) does not exist", (5, 8)),
    ("Catalog Error: Table with name raw does not exist!", None),
    ('Binder Error: Referenced column "elsewhere" not found', None),
])
def test_engine_errors_point_at_the_name(message, where):
    query = sqlglot.parse_one(TEXT, read="spark")
    assert engine_error_position(message, query, TEXT) == where
