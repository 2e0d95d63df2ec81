"""The example propensity project, built end to end on synthetic XDM data.

Every feature of ``training_set`` is checked against an independent pandas computation over the
raw synthetic events; events after the as-of date must change no feature (only the label); and
the label lines up with the signal the generator planted.
"""

from __future__ import annotations

import os
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from runner import BuildOptions, build, load
from runner.adapters.duckdb import load_arrow_tables
from runner.sources.synth import SynthOptions, generate, write_files

REPO = Path(__file__).resolve().parents[1]
USERS = 1000
SPARK_USERS = 200
OPTIONS = SynthOptions(users=USERS)
VARS = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))["vars"]
AS_OF, LABEL_WINDOW_DAYS = str(VARS["as_of_date"]), int(VARS["label_window_days"])
# eventType -> (stem of its count columns, stem of its recency column or None)
FEATURE_EVENTS = {
    "directMarketing.emailSent": ("emails_sent", "email_sent"),
    "directMarketing.emailOpened": ("emails_opened", "email_open"),
    "directMarketing.emailClicked": ("emails_clicked", "email_click"),
    "web.webpagedetails.pageViews": ("page_views", "page_view"),
    "web.webinteraction.linkClicks": ("link_clicks", "link_click"),
    "commerce.productViews": ("product_views", "product_view"),
    "commerce.purchases": ("purchases", "purchase"),
    "decisioning.propositionDisplay": ("proposition_displays", None),
    "decisioning.propositionInteract": ("proposition_interacts", "proposition_interact"),
    "decisioning.propositionDismiss": ("proposition_dismisses", "proposition_dismiss"),
    "advertising.clicks": ("ad_clicks", None),
}
RATIOS = {
    "open_rate_90d": ("emails_opened_90d", "emails_sent_90d"),
    "click_through_rate_90d": ("emails_clicked_90d", "emails_opened_90d"),
    "click_to_send_rate_90d": ("emails_clicked_90d", "emails_sent_90d"),
    "product_conversion_90d": ("purchases_90d", "product_views_90d"),
    "proposition_interact_rate_90d": ("proposition_interacts_90d", "proposition_displays_90d"),
    "page_views_recent_share": ("page_views_30d", "page_views_90d"),
}
TIERS = {"bronze": 1, "silver": 2, "gold": 3, "platinum": 4}


# -- the independent computation --------------------------------------------------------------
def flat_events(tables: dict[str, pa.Table]) -> pd.DataFrame:
    """user_id, event_type, event_ts, page_name, order_total of every event, from the raw rows."""
    events = tables["experience_events"]
    ecid = pc.list_element(pc.map_lookup(events["identityMap"], "ECID", "first"), 0)
    return pd.DataFrame({
        "user_id": pc.struct_field(ecid, "id").to_pandas(),
        "event_type": events["eventType"].to_pandas(),
        "event_ts": events["timestamp"].to_pandas(),
        "page_name": pc.struct_field(events["web"], ["webPageDetails", "name"]).to_pandas(),
        "order_total": pc.struct_field(events["commerce"], ["order", "priceTotal"]).to_pandas(),
    })


def expected_training_set(tables: dict[str, pa.Table], as_of_date: str,
                          window_days: int) -> pd.DataFrame:
    """What training_set must hold, computed in pandas from the raw synthetic tables."""
    as_of = pd.Timestamp(as_of_date, tz="UTC")
    events = flat_events(tables)
    forms = events[(events.event_type == "web.formFilledOut")
                   & (events.page_name == "subscriptionForm")]
    first_form = forms.groupby("user_id")["event_ts"].min()
    rows = []
    for profile in tables["profiles"].to_pylist():
        user = profile["personID"]
        created = pd.Timestamp(profile["extSourceSystemAudit"]["createdDate"])
        first = first_form.get(user)
        if created >= as_of or (first is not None and first < as_of):
            continue
        person, loyalty = profile["person"], profile["loyalty"]
        rows.append({
            "user_id": user,
            "subscribed": int(first is not None and first < as_of + pd.Timedelta(days=window_days)),
            "age": 2026 - person["birthYear"] if person["birthYear"] is not None else None,
            "gender": person["gender"] or "unknown",
            "country_code": profile["homeAddress"]["countryCode"],
            "loyalty_tier_rank": TIERS[loyalty["tier"]] if loyalty and loyalty["tier"] else 0,
            "loyalty_points": loyalty["points"] if loyalty else 0.0,
            "email_opt_in": int(profile["consents"]["marketing"]["email"]["val"] == "y"),
            "tenure_days": (as_of.date() - created.date()).days,
        })
    frame = pd.DataFrame(rows).set_index("user_id").sort_index()
    history = events[(events.event_ts < as_of) & events.user_id.isin(frame.index)].copy()
    history["age_minutes"] = (as_of - history.event_ts) / pd.Timedelta(minutes=1)
    history["age_days"] = history.age_minutes / 1440
    for days in (7, 30, 90):
        recent = history[history.age_days < days]
        counts = recent.groupby(["user_id", "event_type"]).size().unstack()
        for event_type, (name, _) in FEATURE_EVENTS.items():
            column = counts[event_type] if event_type in counts else pd.Series(dtype=float)
            frame[f"{name}_{days}d"] = column.reindex(frame.index).fillna(0).astype(int)
    last = history.groupby(["user_id", "event_type"])["age_minutes"].min().unstack()
    for event_type, (_, name) in FEATURE_EVENTS.items():
        if name:
            frame[f"minutes_since_{name}"] = last[event_type].reindex(frame.index)
    frame["minutes_since_any_event"] = history.groupby("user_id")["age_minutes"].min()
    for name, (num, den) in RATIOS.items():
        frame[name] = (100 * frame[num] / frame[den]).where(frame[den] > 0)
    bought = history[history.event_type == "commerce.purchases"]
    for name, days in (("revenue_30d", 30), ("revenue_90d", 90), ("revenue_to_date", None)):
        window = bought if days is None else bought[bought.age_days < days]
        frame[name] = window.groupby("user_id")["order_total"].sum().reindex(frame.index).fillna(0.0)
    frame["avg_order_value_90d"] = bought[bought.age_days < 90].groupby("user_id")[
        "order_total"].mean()
    return frame


def half_up(value: float) -> float:
    """Round to two decimals the way Spark's ROUND does (half away from zero)."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every column equal: integers and strings exactly, doubles to 1e-9 relative, NULLs aligned."""
    assert list(actual.index) == list(expected.index)
    for column in expected.columns:
        got, want = actual[column].tolist(), expected[column].tolist()
        for user, g, w in zip(expected.index, got, want):
            if w is None or (isinstance(w, float) and pd.isna(w)):
                assert g is None or pd.isna(g), (column, user, g)
            elif column in RATIOS:
                assert g == pytest.approx(half_up(w), abs=1e-9), (column, user, g, w)
            elif isinstance(w, float):
                assert g == pytest.approx(w, rel=1e-9, abs=1e-9), (column, user, g, w)
            else:
                assert g == w, (column, user, g, w)


# -- building the example ---------------------------------------------------------------------
def copy_example(destination: Path, *, synthetic: bool = True, users: int = USERS) -> Path:
    """The repository's example project in ``destination``, with ``users`` synthetic people.

    With ``synthetic=False`` the sources lose their generator, so tables already in the local
    DuckDB file are used as they are.
    """
    for folder in ("models", "macros"):
        shutil.copytree(REPO / folder, destination / folder)
    config = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf-8"))
    config["synth"] = {**(config.get("synth") or {}), "users": users, "days": OPTIONS.days,
                       "seed": OPTIONS.seed, "end": OPTIONS.end.isoformat()}
    config.pop("exports", None)
    if not synthetic:
        for source in config["sources"].values():
            source.pop("synthetic", None)
    (destination / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return destination


def build_example(root: Path, **options: object) -> pd.DataFrame:
    """Build the project in ``root`` and return training_set indexed by user_id."""
    lines: list[str] = []
    result = build(root, BuildOptions(**options), echo=lines.append)
    assert result.ok, "\n".join(lines)
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    try:
        frame = con.sql("SELECT * FROM training_set").df()
    finally:
        con.close()
    return frame.set_index("user_id").sort_index()


def seed_sources(root: Path, tables: dict[str, pa.Table]) -> None:
    """Put ``tables`` in the project's local DuckDB file before a build."""
    path = root / "target" / "local.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        load_arrow_tables(con, tables)
    finally:
        con.close()


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate(OPTIONS)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return build_example(copy_example(tmp_path_factory.mktemp("example")))


# -- tests ------------------------------------------------------------------------------------
def test_the_graph_has_a_diamond_and_a_fan_in(tmp_path):
    project = load(copy_example(tmp_path / "example"))
    assert len(project.models) >= 8
    assert set(project.model_parents("training_set")) == {
        "user_profile_features", "user_event_counts", "user_recency", "user_engagement",
        "user_purchases", "subscription_labels"}
    # events_history feeds both the counts and the recency, which training_set joins again
    assert {"user_event_counts", "user_recency", "user_purchases"} <= set(
        project.dag.children("events_history"))
    assert set(project.model_parents("user_engagement")) == {"user_event_counts"}
    assert project.models["events_history"].config.materialized == "ephemeral"


def test_training_set_matches_an_independent_computation(built, tables):
    expected = expected_training_set(tables, AS_OF, LABEL_WINDOW_DAYS)
    # seed 42, 1000 users: 919 profiles exist at the as-of date, 279 had already subscribed
    assert (len(expected), int(expected["subscribed"].sum())) == (640, 64)
    assert set(built["as_of_date"].astype(str)) == {AS_OF}
    assert built.columns[0] == "as_of_date"
    assert set(built.columns) - {"as_of_date"} == set(expected.columns)
    assert_frames_match(built, expected)


def test_as_of_date_var_moves_every_feature_and_the_label(tmp_path, tables):
    earlier = "2026-04-30"
    built = build_example(copy_example(tmp_path / "example"), vars={"as_of_date": earlier})
    assert set(built["as_of_date"].astype(str)) == {earlier}
    assert_frames_match(built, expected_training_set(tables, earlier, LABEL_WINDOW_DAYS))


def test_events_after_the_as_of_date_change_no_feature(tmp_path, tables, built):
    as_of = pd.Timestamp(AS_OF, tz="UTC")
    events = tables["experience_events"]
    users = built.index[:60].tolist()
    late = []
    for offset, user in enumerate(users):
        # every fifth user's late events fall exactly on the as-of instant (still "after")
        at = as_of if offset % 5 == 0 else as_of + pd.Timedelta(hours=offset + 1)
        for kind in ("directMarketing.emailClicked", "commerce.productViews", "commerce.purchases",
                     "web.formFilledOut" if offset % 2 == 0 else "decisioning.propositionDismiss"):
            late.append(_late_event(user, kind, at.to_pydatetime(), len(late)))
    grown = {"experience_events": pa.concat_tables([events, pa.Table.from_pylist(
        late, schema=events.schema)]), "profiles": tables["profiles"]}
    root = copy_example(tmp_path / "example", synthetic=False)
    seed_sources(root, grown)
    after = build_example(root)
    features = [c for c in built.columns if c != "subscribed"]
    pd.testing.assert_frame_equal(after[features], built[features])
    changed = set(after.index[after["subscribed"] != built["subscribed"]])
    subscribing = {u for i, u in enumerate(users) if i % 2 == 0}
    assert changed == {u for u in subscribing if built.loc[u, "subscribed"] == 0}
    assert len(changed) > 20 and set(after.loc[list(subscribing), "subscribed"]) == {1}


def _late_event(user: str, kind: str, at: object, n: int) -> dict:
    """One XDM event of ``kind`` for ``user`` at ``at`` (nested groups as the generator makes them)."""
    one = {"value": 1.0}
    groups: dict[str, dict] = {
        "directMarketing.emailClicked": {"directMarketing": {
            "sends": None, "opens": None, "clicks": one, "messageID": "late"}},
        "commerce.productViews": {"commerce": {"productViews": one, "purchases": None, "order": None}},
        "commerce.purchases": {"commerce": {"productViews": None, "purchases": one, "order": {
            "priceTotal": 999.0, "currencyCode": "USD"}}},
        "web.formFilledOut": {"web": {"webInteraction": None, "webPageDetails": {
            "name": "subscriptionForm", "URL": "https://www.acme.example/subscribe",
            "siteSection": "subscribe", "pageViews": one}}},
    }
    return {"_id": f"late-{n}", "timestamp": at, "eventType": kind,
            "identityMap": [("ECID", [{"id": user, "primary": True}])], "producedBy": "late",
            "_acmeinc": {"userid": user}, **groups.get(kind, {})}


def test_label_lines_up_with_the_planted_signal(built):
    positives = built[built["subscribed"] == 1]
    negatives = built[built["subscribed"] == 0]
    assert len(positives) >= 40 and len(negatives) >= 400
    for feature, factor in (("emails_clicked_30d", 1.5), ("product_views_30d", 1.3),
                            ("purchases_30d", 1.5), ("proposition_interacts_30d", 1.5)):
        assert positives[feature].mean() > factor * negatives[feature].mean(), feature
    # a recent email click is closer to the as-of date for those who go on to subscribe
    assert (positives["minutes_since_email_click"].median()
            < negatives["minutes_since_email_click"].median())


@pytest.mark.spark
def test_spark_computes_the_same_training_set(tmp_path):
    """The models' Spark SQL (macros and vars expanded), run by Spark itself over the same data,
    gives the same training_set as the transpiled DuckDB build (a smaller population: Spark is
    slow to plan eleven chained queries)."""
    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Java is not installed (CI=true: the Spark reference tier needs it)")
        pytest.skip("Java is not installed")
    from pyspark.sql import SparkSession

    root = copy_example(tmp_path / "example", users=SPARK_USERS)
    duck = build_example(root)
    spark = (SparkSession.builder.master("local[2]").appName("example-project")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        tables = generate(SynthOptions(users=SPARK_USERS))
        for path in write_files(tables, tmp_path / "data"):
            spark.read.parquet(str(path)).createOrReplaceTempView(path.stem)
        project = load(root)
        for name in project.order():
            query = spark.sql(project.queries[name].sql(dialect="spark")).cache()
            query.createOrReplaceTempView(name)
        frame = spark.sql("SELECT * FROM training_set").toPandas()
    finally:
        spark.stop()
    frame = frame.set_index("user_id").sort_index()
    assert list(frame.columns) == list(duck.columns) and len(frame) > 100
    assert_frames_match(frame.drop(columns="as_of_date"),
                        duck.drop(columns="as_of_date").astype(object).where(duck.notna(), None))
