"""The Spark-faithful dialect layer: ``translate.to_target`` rewrites a Spark query for DuckDB
or PostgreSQL so it gives Spark's values, or refuses it at compile time.

    types.py            Spark's result types (annotate, spark_type, output_schema)
    rules.py            the rule machinery (rewrite, tpl, refuse)
    duckdb.py           DuckDB rules: dates, casts, collections, windows, aggregates
    duckdb_numbers.py   DuckDB rules: integer and decimal arithmetic, rounding
    duckdb_text.py      DuckDB rules: strings, regexes, date patterns
    postgres.py         PostgreSQL rules (DuckDB's where they agree, refusals otherwise)
    translate.py        to_target: annotate, rewrite, check the result renders
"""
