"""The Spark-faithful dialect layer: ``translate.to_target`` rewrites a Spark query for DuckDB
or PostgreSQL so it gives Spark's values, or refuses it at compile time.

    spark_types.py      Spark's type rules (coercion, decimal precision), as sqlglot annotators
    types.py            annotate a query with Spark's types; output_schema for the children
    rules.py            the rule machinery (rewrite, tpl, refuse)
    duckdb.py           DuckDB rules: dates, casts, collections, windows, aggregates
    duckdb_numbers.py   DuckDB rules: integer division, rounding, aggregates, windows
    duckdb_exact.py     DuckDB rules: exact DECIMAL and wrapping integer results in Spark's types
    duckdb_text.py      DuckDB rules: strings, regexes, date patterns
    postgres.py         PostgreSQL rules (DuckDB's where they agree, refusals otherwise)
    translate.py        to_target: annotate, rewrite, check the result renders
"""
