"""Hypothesis strategies for bad input: real project files broken the ways people break them
(a token deleted or doubled, bytes of noise, a file cut short) and command lines of real flags."""

from __future__ import annotations

import re

from hypothesis import strategies as st

TOKENS = re.compile(r"\s+|[(),;:*+\-/'\"\[\]{}]|[^\s(),;:*+\-/'\"\[\]{}]+")

PROJECT_YML = """\
name: fuzz
vars:
  as_of_date: '2026-05-31'
sources:
  events:
    path: data/events.csv
targets:
  local: {type: duckdb}
exports:
  - model: totals
    destination: {type: local, path: out}
"""
MODELS = {
    "stg": "/* config\ntags: [staging]\n*/\nSELECT user_id, amount, CAST(ts AS TIMESTAMP) AS ts\n"
           "FROM events\n",
    "per_user": "/* config\nmaterialized: ephemeral\n*/\nWITH x AS (SELECT * FROM stg)\n"
                "SELECT user_id, sum(amount) AS total, max(ts) AS last_ts FROM x GROUP BY 1\n",
    "totals": "SELECT user_id, safe_ratio(total, 2) AS half,\n"
              "       datediff(CAST(var('as_of_date') AS DATE), CAST(last_ts AS DATE)) AS days\n"
              "FROM per_user\n",
}
MACROS = "CREATE FUNCTION safe_ratio(a, b) RETURN CASE WHEN b = 0 THEN NULL ELSE a / b END;\n"
EVENTS = "user_id,amount,ts\nu1,5,2026-05-01 10:00:00\nu2,3,2026-05-20 08:30:00\n"

FLAGS = ["build", "compile", "ls", "graph", "clean", "--select", "-s", "--exclude", "+totals",
         "stg+", "tag:staging", "@per_user", "path:models", "config.materialized:table",
         "source:events+", "2+totals", "--vars", "{as_of_date: 2026-06-01}", "{x: [1,", "--threads",
         "0", "3", "-t", "local", "nope", "--output", "json", "--format", "dot", "--print",
         "--full-refresh", "--dry-run", "totals", "tot*", "", "--", "-x"]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with one to three edits: a token deleted, doubled or swapped with another,
    a few random bytes inserted, or the file cut short."""
    tokens = TOKENS.findall(text)
    for _ in range(draw(st.integers(1, 3))):
        if not tokens:
            break
        op = draw(st.sampled_from(["delete", "double", "swap", "noise", "cut"]))
        i = draw(st.integers(0, len(tokens) - 1))
        if op == "delete":
            del tokens[i]
        elif op == "double":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "noise":
            noise = draw(st.binary(min_size=1, max_size=4))
            tokens.insert(i, noise.decode("latin-1"))
        else:
            tokens = tokens[:i]
    data = "".join(tokens)
    # latin-1 noise becomes real non-UTF-8 bytes when it is not ASCII
    return data.encode("latin-1", errors="replace") if draw(st.booleans()) else data.encode()


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=8),
                         st.sampled_from(["duckdb", "local", "events", "${NOPE}", "${X:-1}"]))
yaml_documents = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "targets", "sources", "vars", "exports", "type",
                                         "path", "model", "destination", "keep_versions",
                                         "synth", "threads", "local", "events", "x"]),
                        inner, max_size=4)),
    max_leaves=12)
command_lines = st.lists(st.sampled_from(FLAGS), min_size=1, max_size=5)
