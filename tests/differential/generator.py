"""A deterministic generator of feature projects, for differential testing against Spark.

``generate(seed)`` writes nothing: it returns a ``Generated`` project (source tables as Spark
SQL, models as Spark SQL in DAG order). Models are layered like real feature projects:
staging models over the sources (``SELECT *``, filters, derived columns), per-user aggregates
(CASE aggregates, decimal and double arithmetic mixed on purpose, date differences), window
models (row_number, lag, running sums over row frames), joins of features with profiles, set
operations (UNION ALL, INTERSECT, EXCEPT) and CTEs; staging models add string and date
functions of everyday features. Every model's columns carry a kind so later layers write well-typed SQL;
the data is NULL-heavy. The same seed always gives the same project.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

NUMERIC = ("num",)


@dataclass
class Model:
    name: str
    sql: str
    columns: dict[str, str]  # name -> kind: key, int, double, decimal, string, date, ts
    grain: str  # "event" (one row per event) or "user" (one row per user)
    materialized: str = "table"


@dataclass
class Generated:
    seed: int
    sources: dict[str, str]  # name -> Spark SQL defining its rows
    models: list[Model] = field(default_factory=list)


EVENT_TYPES = ("page_view", "purchase", "email_open", "click")
TIERS = ("gold", "silver", "bronze")


def _maybe(rng: random.Random, text: str, null_share: float = 0.3) -> str:
    return "NULL" if rng.random() < null_share else text


def events_sql(rng: random.Random, rows: int = 60) -> str:
    values = []
    for i in range(rows):
        user = f"'u{rng.randint(1, 8)}'"
        ts = f"'2024-0{rng.randint(1, 3)}-{rng.randint(10, 28)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00'"
        amount = _maybe(rng, f"'{rng.randint(-500, 99999) / 100:.2f}'")
        price = _maybe(rng, f"{rng.uniform(-50, 500):.4f}")
        qty = _maybe(rng, str(rng.randint(-3, 40)))
        kind = f"'{rng.choice(EVENT_TYPES)}'"
        page = _maybe(rng, f"'p{rng.randint(1, 5)}'", 0.4)
        values.append(f"({i + 1}, {user}, {ts}, {kind}, {amount}, {price}, {qty}, {page})")
    return (
        "SELECT CAST(event_id AS INT) AS event_id, user_id, CAST(ts AS TIMESTAMP) AS ts, "
        "event_type, CAST(amount AS DECIMAL(10, 2)) AS amount, CAST(price AS DOUBLE) AS price, "
        "CAST(qty AS INT) AS qty, page,\n"
        "       named_struct('web', named_struct('name', page, 'views', CAST(qty AS BIGINT))) AS xdm,\n"
        "       map('ECID', user_id, 'page', page) AS ids\n"
        "FROM VALUES\n  " + ",\n  ".join(values)
        + "\n  AS t(event_id, user_id, ts, event_type, amount, price, qty, page)")


def profiles_sql(rng: random.Random) -> str:
    values = []
    for u in range(1, 10):
        tier = _maybe(rng, f"'{rng.choice(TIERS)}'", 0.2)
        signup = _maybe(rng, f"'2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}'", 0.2)
        score = _maybe(rng, f"{rng.uniform(0, 1):.6f}")
        credit = _maybe(rng, f"'{rng.randint(-10**6, 10**8) / 10**5:.5f}'")
        age = _maybe(rng, str(rng.randint(18, 90)))
        values.append(f"('u{u}', {tier}, {signup}, {score}, {credit}, {age})")
    return (
        "SELECT user_id, tier, CAST(signup AS DATE) AS signup, CAST(score AS DOUBLE) AS score, "
        "CAST(credit AS DECIMAL(15, 5)) AS credit, CAST(age AS INT) AS age\n"
        "FROM VALUES\n  " + ",\n  ".join(values) + "\n  AS t(user_id, tier, signup, score, credit, age)")


EVENT_COLUMNS = {"event_id": "id", "user_id": "key", "ts": "ts", "event_type": "string",
                 "amount": "num", "price": "num", "qty": "num", "page": "string"}
PROFILE_COLUMNS = {"user_id": "key", "tier": "string", "signup": "date", "score": "num",
                   "credit": "num", "age": "num"}
LITERALS = ("1.16", "0.14", "1.89", "2", "100", "0.5", "2.5D", "3", "0.001", "12.75")


class Writer:
    """Random expressions over a model's typed columns."""

    def __init__(self, rng: random.Random, columns: dict[str, str], alias: str = "") -> None:
        self.rng, self.columns, self.alias = rng, columns, alias

    def col(self, *kinds: str) -> str | None:
        names = [n for n, k in self.columns.items() if k in kinds]
        return f"{self.alias}{self.rng.choice(names)}" if names else None

    def number(self, depth: int = 0) -> str:
        rng = self.rng
        column = self.col(*NUMERIC)
        pick = rng.random()
        if column is None or pick < 0.15:
            return rng.choice(LITERALS)
        if depth >= 2 or pick < 0.45:
            return column if rng.random() < 0.6 else f"COALESCE({column}, 0)"
        if pick < 0.85:
            op = rng.choice(["+", "-", "*", "*", "/"])
            return f"({self.number(depth + 1)} {op} {self.number(depth + 1)})"
        return f"CASE WHEN {self.condition()} THEN {self.number(depth + 1)} ELSE {self.number(depth + 1)} END"

    def condition(self) -> str:
        rng = self.rng
        text, number = self.col("string"), self.col(*NUMERIC)
        options = []
        if text is not None:
            options.append(f"{text} = '{rng.choice(EVENT_TYPES + TIERS + ('p1', 'p2'))}'")
            options.append(f"{text} IS NULL")
        if number is not None:
            options.append(f"{number} > {rng.choice(['0', '1.5', '10', '100.25'])}")
        return rng.choice(options or ["TRUE"])

    def aggregate(self) -> tuple[str, str]:
        """An aggregate expression and its kind."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.2:
            return f"sum(CASE WHEN {self.condition()} THEN 1 ELSE 0 END)", "num"
        if pick < 0.45:
            return f"sum({self.number()})", "num"
        if pick < 0.7:
            return f"avg({self.number()})", "num"
        if pick < 0.8:
            return f"{rng.choice(['min', 'max'])}({self.number()})", "num"
        if pick < 0.9:
            column = self.col(*NUMERIC, "string") or "1"
            return f"count({column})", "num"
        return f"round(sum({self.number()}), {rng.randint(0, 3)})", "num"


# Derived event columns a staging model may add: string and date functions of everyday features.
EVENT_DERIVED = {
    "kind_upper": ("upper(event_type)", "string"),
    "user_event": ("concat(user_id, '-', event_type)", "string"),
    "kind_head": ("substr(event_type, 1, 4)", "string"),
    "page_len": ("length(page)", "num"),
    "page_or_none": ("coalesce(page, 'none')", "string"),
    "kind_word": ("regexp_extract(event_type, '^([a-z]+)', 1)", "string"),
    "kind_part": ("split(event_type, '_')[0]", "string"),
    "user_padded": ("lpad(user_id, 5, '0')", "string"),
    "month_start": ("date_trunc('MONTH', ts)", "ts"),
    "hour_of_day": ("hour(ts)", "num"),
    "weekday": ("dayofweek(ts)", "num"),
    "month_label": ("date_format(ts, 'yyyy-MM')", "string"),
    "unix_ts": ("unix_timestamp(ts)", "num"),
    "months_since": ("months_between(TIMESTAMP'2024-04-01 00:00:00', ts)", "num"),
    "week_start": ("date_sub(to_date(ts), dayofweek(ts) - 1)", "date"),
}


def _config(materialized: str) -> str:
    return "" if materialized == "table" else f"/* config\nmaterialized: {materialized}\n*/\n"


def staging(rng: random.Random, name: str, source: str, columns: dict[str, str]) -> Model:
    """SELECT * with a filter, or the source's columns plus derived ones (nested XDM fields)."""
    w = Writer(rng, columns)
    materialized = rng.choice(["table", "table", "view", "ephemeral"])
    if rng.random() < 0.35:
        sql = f"SELECT * FROM {source} WHERE {w.condition()} OR {w.condition()}"
        return Model(name, _config(materialized) + sql, dict(columns), "event" if "ts" in columns else "user", materialized)
    derived = {f"x{i}": w.number() for i in range(rng.randint(1, 3))}
    out = dict(columns)
    extra = [f"{expr} AS {alias}" for alias, expr in derived.items()]
    out.update({alias: "num" for alias in derived})
    if "ts" in columns:
        extra += ["xdm.web.name AS web_name", "xdm.web.views * 1.5 AS views_x", "ids['ECID'] AS ecid",
                  "to_date(ts) AS day", "CAST(ts AS LONG) AS epoch",
                  f"datediff(ts, TIMESTAMP'2024-01-01 00:00:00') AS age_days"]
        out.update({"web_name": "string", "views_x": "num", "ecid": "string", "day": "date",
                    "epoch": "num", "age_days": "num"})
        for alias, (expr, kind) in rng.sample(sorted(EVENT_DERIVED.items()), 3):
            extra.append(f"{expr} AS {alias}")
            out[alias] = kind
    if "signup" in columns:
        extra.append("date_add(signup, 30) AS trial_end")
        out["trial_end"] = "date"
    base = ", ".join(c for c in columns)
    sql = f"SELECT {base}, {', '.join(extra)} FROM {source}"
    return Model(name, _config(materialized) + sql, out, "event" if "ts" in columns else "user", materialized)


def user_aggregate(rng: random.Random, name: str, parent: Model) -> Model:
    """Per-user aggregates over a CTE that filters the parent."""
    w = Writer(rng, parent.columns)
    aggs = {f"f{i}": w.aggregate()[0] for i in range(rng.randint(2, 5))}
    if "ts" in parent.columns:
        aggs["span_days"] = "datediff(max(ts), min(ts))"
        aggs["last_epoch"] = "CAST(max(ts) AS LONG)"
    aggs["n"] = "count(*)"
    select = ", ".join(f"{expr} AS {alias}" for alias, expr in aggs.items())
    sql = (f"WITH base AS (SELECT * FROM {parent.name} WHERE {w.condition()} OR {w.number()} IS NULL)\n"
           f"SELECT user_id, {select} FROM base GROUP BY user_id")
    return Model(name, sql, {"user_id": "key", **{a: "num" for a in aggs}}, "user")


def windowed(rng: random.Random, name: str, parent: Model) -> Model:
    """row_number, lag, running sums over a row frame, partition averages."""
    w = Writer(rng, parent.columns)
    order = "PARTITION BY user_id ORDER BY ts, event_id"
    frame = rng.choice(["ROWS BETWEEN 2 PRECEDING AND CURRENT ROW",
                        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                        "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING"])
    cols = {"rn": f"row_number() OVER ({order})", "prev": f"lag({w.number()}) OVER ({order})",
            "run": f"sum({w.number()}) OVER ({order} {frame})",
            "user_avg": f"avg({w.number()}) OVER (PARTITION BY user_id)",
            "gap_days": f"datediff(ts, lag(ts) OVER ({order}))",
            "rk": f"dense_rank() OVER (PARTITION BY user_id ORDER BY {w.col('num') or 'event_id'})"}
    select = ", ".join(f"{expr} AS {alias}" for alias, expr in cols.items())
    sql = f"SELECT user_id, event_id, ts, {select} FROM {parent.name}"
    return Model(name, sql, {"user_id": "key", "event_id": "id", "ts": "ts",
                             **{a: "num" for a in cols}}, "event")


def joined(rng: random.Random, name: str, left: Model, profiles: str) -> Model:
    """Features joined to profiles, mixing their numbers."""
    lw = Writer(rng, {k: v for k, v in left.columns.items() if k != "user_id"}, "f.")
    pw = Writer(rng, {k: v for k, v in PROFILE_COLUMNS.items() if k != "user_id"}, "p.")
    mix = {f"m{i}": f"({lw.number()} {rng.choice(['+', '*', '-', '/'])} {pw.number()})"
           for i in range(rng.randint(1, 3))}
    keep = [c for c, k in left.columns.items() if k == "num"][:3]
    select = ", ".join([f"f.{c}" for c in keep] + [f"{e} AS {a}" for a, e in mix.items()])
    sql = (f"SELECT p.user_id, p.tier, {select}, datediff(DATE'2024-04-01', p.signup) AS tenure, "
           f"CASE WHEN p.tier = 'gold' THEN {lw.number()} ELSE {pw.number()} END AS by_tier\n"
           f"FROM {profiles} p LEFT JOIN {left.name} f ON p.user_id = f.user_id")
    out = {"user_id": "key", "tier": "string", **{c: "num" for c in keep},
           **{a: "num" for a in mix}, "tenure": "num", "by_tier": "num"}
    return Model(name, sql, out, "user")


def unioned(rng: random.Random, name: str, a: Model, b: Model) -> Model:
    """UNION ALL of a number from each parent, then aggregated per user in the same model."""
    wa, wb = Writer(rng, a.columns), Writer(rng, b.columns)
    sql = (f"WITH u AS (SELECT user_id, {wa.number()} AS v, 'a' AS src FROM {a.name}\n"
           f"  UNION ALL SELECT user_id, {wb.number()} AS v, 'b' AS src FROM {b.name})\n"
           f"SELECT user_id, sum(v) AS total, avg(v) AS mean, count(v) AS n_v, "
           f"max(CASE WHEN src = 'a' THEN v END) AS max_a FROM u GROUP BY user_id")
    return Model(name, sql, {"user_id": "key", "total": "num", "mean": "num", "n_v": "num",
                             "max_a": "num"}, "user")


def segmented(rng: random.Random, name: str, a: Model, b: Model) -> Model:
    """INTERSECT and EXCEPT of the users of two parents (set semantics: distinct), labelled."""
    wa = Writer(rng, a.columns)
    keep = f"WHERE {wa.condition()}" if rng.random() < 0.5 else ""
    sql = (f"WITH both_ AS (SELECT user_id FROM {a.name} {keep} INTERSECT SELECT user_id FROM {b.name}),\n"
           f"  only_a AS (SELECT user_id FROM {a.name} {keep} EXCEPT SELECT user_id FROM {b.name})\n"
           f"SELECT user_id, 'both' AS segment, 1 AS weight FROM both_\n"
           f"UNION ALL SELECT user_id, 'only_a' AS segment, 2 AS weight FROM only_a")
    return Model(name, sql, {"user_id": "key", "segment": "string", "weight": "num"}, "user")


def generate(seed: int, models: int = 12) -> Generated:
    """A layered project of about ``models`` models over events and profiles."""
    rng = random.Random(seed)
    project = Generated(seed, {"events": events_sql(rng), "profiles": profiles_sql(rng)})
    events, users = [], []
    for i in range(max(2, models // 5)):
        source, columns = rng.choice([("events", EVENT_COLUMNS), ("events", EVENT_COLUMNS),
                                      ("profiles", PROFILE_COLUMNS)])
        model = staging(rng, f"stg_{i}", source, columns)
        (events if model.grain == "event" else users).append(model)
        project.models.append(model)
    if not any("ts" in m.columns for m in events):
        model = staging(rng, "stg_events", "events", EVENT_COLUMNS)
        events.append(model)
        project.models.append(model)
    while len(project.models) < models:
        step = len(project.models)
        pick = rng.random()
        if pick < 0.3:
            model = user_aggregate(rng, f"agg_{step}", rng.choice(events))
        elif pick < 0.5:
            model = windowed(rng, f"win_{step}", rng.choice([m for m in events if "ts" in m.columns]))
        elif pick < 0.75 and users:
            model = joined(rng, f"join_{step}", rng.choice(users), "profiles")
        elif len(users) >= 1 and pick < 0.88:
            model = unioned(rng, f"union_{step}", rng.choice(users), rng.choice(users + events))
        elif len(users) >= 1:
            model = segmented(rng, f"seg_{step}", rng.choice(users + events), rng.choice(users))
        else:
            model = user_aggregate(rng, f"agg_{step}", rng.choice(events))
        (events if model.grain == "event" else users).append(model)
        project.models.append(model)
    return project
