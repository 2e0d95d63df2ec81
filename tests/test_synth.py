"""The synthetic XDM generator: deterministic, XDM-shaped, causally consistent, with a planted signal."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from runner.errors import ProjectError
from runner.adapters.duckdb import load_arrow_tables
from runner.sources.synth import EVENT_TYPES, SUBSCRIPTION_PAGE, SynthOptions, generate, write_files

SMALL = SynthOptions(users=150, days=60, seed=7)
MEASURE = "STRUCT(\"value\" DOUBLE)"
IDENTITY = 'MAP(VARCHAR, STRUCT(id VARCHAR, "primary" BOOLEAN)[])'
EVENT_COLUMNS = {
    "_id": "VARCHAR",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "eventType": "VARCHAR",
    "identityMap": IDENTITY,
    "web": f"STRUCT(webPageDetails STRUCT(\"name\" VARCHAR, URL VARCHAR, siteSection VARCHAR, "
           f"pageViews {MEASURE}), webInteraction STRUCT(\"name\" VARCHAR, URL VARCHAR, "
           f"\"type\" VARCHAR, linkClicks {MEASURE}))",
    "commerce": f"STRUCT(productViews {MEASURE}, purchases {MEASURE}, \"order\" "
                "STRUCT(priceTotal DOUBLE, currencyCode VARCHAR))",
    "productListItems": "STRUCT(SKU VARCHAR, \"name\" VARCHAR, quantity INTEGER, priceTotal DOUBLE)[]",
    "directMarketing": f"STRUCT(sends {MEASURE}, opens {MEASURE}, clicks {MEASURE}, messageID VARCHAR)",
    "producedBy": "VARCHAR",
    "_acmeinc": "STRUCT(userid VARCHAR)",
}
PROFILE_COLUMNS = {
    "_id": "VARCHAR",
    "personID": "VARCHAR",
    "identityMap": IDENTITY,
    "_acmeinc": "STRUCT(userid VARCHAR)",
    "person": "STRUCT(birthYear INTEGER, gender VARCHAR)",
    "homeAddress": "STRUCT(countryCode VARCHAR)",
    "loyalty": "STRUCT(tier VARCHAR, points DOUBLE)",
    "consents": "STRUCT(marketing STRUCT(email STRUCT(val VARCHAR)))",
    "extSourceSystemAudit": "STRUCT(createdDate TIMESTAMP WITH TIME ZONE)",
}


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    return generate(SMALL)


@pytest.fixture(scope="module")
def full() -> dict[str, pa.Table]:
    return generate(SynthOptions(users=1000))


def events_frame(tables: dict[str, pa.Table]) -> pd.DataFrame:
    """The flat columns of the events plus ``user`` (the tenant userid)."""
    events = tables["experience_events"]
    frame = events.select(["_id", "timestamp", "eventType"]).to_pandas()
    frame["user"] = events.column("_acmeinc").combine_chunks().field("userid").to_pylist()
    return frame


def test_same_options_give_identical_tables_and_files(small, tmp_path):
    again = generate(SMALL)
    assert all(again[name].equals(small[name]) for name in ("experience_events", "profiles"))
    first = write_files(small, tmp_path / "a")
    second = write_files(again, tmp_path / "b")
    assert [p.name for p in first] == ["experience_events.parquet", "profiles.parquet"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_other_seed_gives_other_data(small):
    other = generate(SynthOptions(users=150, days=60, seed=8))
    assert not other["experience_events"].equals(small["experience_events"])
    assert set(other["profiles"]["personID"].to_pylist()).isdisjoint(
        small["profiles"]["personID"].to_pylist())


def test_a_larger_population_keeps_the_smaller_ones_users(small):
    fewer = generate(SynthOptions(users=40, days=60, seed=7))
    assert fewer["profiles"].equals(small["profiles"].slice(0, 40))
    n = fewer["experience_events"].num_rows
    assert fewer["experience_events"].equals(small["experience_events"].slice(0, n))


def test_schema_in_duckdb_keeps_every_nested_type(small):
    con = duckdb.connect()
    assert load_arrow_tables(con, small) == {
        "experience_events": small["experience_events"].num_rows, "profiles": 150}
    for table, expected in (("experience_events", EVENT_COLUMNS), ("profiles", PROFILE_COLUMNS)):
        described = {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        assert described == expected


def test_tenant_option_names_the_tenant_struct():
    tables = generate(SynthOptions(users=3, days=5, tenant="_globex"))
    for table in tables.values():
        assert "_globex" in table.column_names and "_acmeinc" not in table.column_names
        assert table.schema.field("_globex").type == pa.struct([("userid", pa.string())])


def test_value_domains(small):
    frame = events_frame(small)
    profiles = small["profiles"].to_pylist()
    assert set(frame["eventType"]) <= set(EVENT_TYPES)
    start = pd.Timestamp("2026-05-02", tz="UTC")
    assert frame["timestamp"].min() >= start
    assert frame["timestamp"].max() < pd.Timestamp("2026-07-01", tz="UTC")
    assert frame["_id"].is_unique
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
               for i in frame["_id"])
    ecids = {p["personID"] for p in profiles}
    assert len(ecids) == 150 and all(re.fullmatch(r"[1-9][0-9]{37}", e) for e in ecids)
    assert set(frame["user"]) <= ecids
    identity = small["experience_events"].column("identityMap").to_pylist()
    assert all(m == [("ECID", [{"id": u, "primary": True}])] for m, u in zip(identity, frame["user"]))
    assert all(p["identityMap"] == [("ECID", [{"id": p["personID"], "primary": True}])]
               and p["_acmeinc"] == {"userid": p["personID"]} for p in profiles)
    assert set(small["experience_events"].column("producedBy").to_pylist()) == {"runner-synthetic"}
    created = {p["personID"]: pd.Timestamp(p["extSourceSystemAudit"]["createdDate"])
               for p in profiles}
    assert all(t >= created[u] for t, u in zip(frame["timestamp"], frame["user"]))
    assert {p["consents"]["marketing"]["email"]["val"] for p in profiles} == {"y", "n"}
    tiers = {p["loyalty"]["tier"] for p in profiles if p["loyalty"]}
    assert tiers <= {"bronze", "silver", "gold", "platinum"} and len(tiers) >= 3


def test_every_event_type_occurs_with_its_own_nested_group(full):
    events = full["experience_events"].to_pylist()
    assert {e["eventType"] for e in events} == set(EVENT_TYPES)
    for e in events:
        kind = e["eventType"]
        assert (e["web"] is not None) == kind.startswith("web."), kind
        assert (e["commerce"] is not None) == kind.startswith("commerce."), kind
        assert (e["directMarketing"] is not None) == kind.startswith("directMarketing."), kind
        if kind == "web.formFilledOut":
            assert e["web"]["webPageDetails"]["name"] == SUBSCRIPTION_PAGE
        if kind == "web.webinteraction.linkClicks":
            assert e["web"]["webInteraction"]["linkClicks"] == {"value": 1.0}
        if kind == "commerce.purchases":
            items = e["productListItems"]
            assert e["commerce"]["order"]["priceTotal"] == pytest.approx(sum(i["priceTotal"] for i in items))
        if kind == "directMarketing.emailClicked":
            assert e["directMarketing"]["clicks"] == {"value": 1.0}
            assert e["directMarketing"]["messageID"].startswith("msg-")


def test_dependent_events_follow_their_cause(full):
    events = full["experience_events"].to_pylist()
    sent: set[tuple[str, str]] = set()
    viewed: set[tuple[str, str]] = set()
    subscriptions: dict[str, int] = {}
    for e in events:  # ordered by user, then time
        user, kind = e["_acmeinc"]["userid"], e["eventType"]
        if kind == "directMarketing.emailSent":
            sent.add((user, e["directMarketing"]["messageID"]))
        elif kind == "directMarketing.emailOpened":
            assert (user, e["directMarketing"]["messageID"]) in sent
        elif kind == "commerce.productViews":
            viewed.add((user, e["productListItems"][0]["SKU"]))
        elif kind == "commerce.purchases":
            assert (user, e["productListItems"][0]["SKU"]) in viewed
        elif kind == "web.formFilledOut":
            subscriptions[user] = subscriptions.get(user, 0) + 1
    assert set(subscriptions.values()) == {1}
    assert 0.2 < len(subscriptions) / 1000 < 0.55


def test_planted_signal_email_clicks_precede_subscription(full):
    frame = events_frame(full)
    month = pd.Timedelta(days=30)
    subscribed = frame[frame["eventType"] == "web.formFilledOut"].set_index("user")["timestamp"]
    subscribed = subscribed[subscribed >= pd.Timestamp("2026-03-03", tz="UTC") + month]
    clicks = frame[frame["eventType"] == "directMarketing.emailClicked"]
    before = clicks.join(subscribed.rename("at"), on="user", how="inner")
    in_month = before[(before["timestamp"] < before["at"]) & (before["timestamp"] >= before["at"] - month)]
    subscriber_mean = in_month.groupby("user").size().reindex(subscribed.index, fill_value=0).mean()
    reference = subscribed.median()
    others = sorted(set(full["profiles"]["personID"].to_pylist())
                    - set(frame.loc[frame["eventType"] == "web.formFilledOut", "user"]))
    window = clicks[(clicks["timestamp"] < reference) & (clicks["timestamp"] >= reference - month)]
    other_mean = window.groupby("user").size().reindex(others, fill_value=0).mean()
    assert len(subscribed) > 150 and len(others) > 450
    assert subscriber_mean > 2.5 * other_mean and subscriber_mean - other_mean > 0.4


def test_duckdb_answers_spark_sql_on_nested_fields(small):
    con = duckdb.connect()
    load_arrow_tables(con, small)
    spark = ("SELECT web.webPageDetails.name AS page, identityMap['ECID'][0].id AS ecid, "
             "_acmeinc.userid AS userid, timestamp FROM experience_events "
             "WHERE eventType = 'web.webpagedetails.pageViews' ORDER BY timestamp LIMIT 5")
    # Arrow, not fetchall: DuckDB needs pytz to turn TIMESTAMPTZ values into Python objects.
    result = con.sql(sqlglot.transpile(spark, read="spark", write="duckdb")[0]).to_arrow_table()
    events = [e for e in small["experience_events"].to_pylist()
              if e["eventType"] == "web.webpagedetails.pageViews"]
    events.sort(key=lambda e: e["timestamp"])
    assert result.schema.field("timestamp").type.tz is not None  # the session's zone name
    assert [tuple(row.values()) for row in result.to_pylist()] == [
        (e["web"]["webPageDetails"]["name"], e["_acmeinc"]["userid"], e["_acmeinc"]["userid"],
         e["timestamp"]) for e in events[:5]]


def test_load_arrow_tables_replaces_existing_tables(small):
    con = duckdb.connect()
    con.execute("CREATE TABLE profiles AS SELECT 1 AS x")
    tiny = generate(SynthOptions(users=2, days=3))
    assert load_arrow_tables(con, tiny)["profiles"] == 2
    assert load_arrow_tables(con, small)["profiles"] == 150
    assert con.execute("SELECT count(*) FROM profiles").fetchone() == (150,)


def test_parquet_round_trip(small, tmp_path):
    paths = write_files(small, tmp_path / "data")
    assert paths == [tmp_path / "data" / "experience_events.parquet", tmp_path / "data" / "profiles.parquet"]
    for path in paths:
        assert pq.read_table(path).equals(small[path.stem])
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{paths[0]}')").fetchall()
    assert {row[0]: row[1] for row in described} == EVENT_COLUMNS


@pytest.mark.parametrize("options, message", [
    (SynthOptions(users=0), "users (0) and days (120) must both be at least 1"),
    (SynthOptions(days=0), "users (2000) and days (0) must both be at least 1"),
    (SynthOptions(tenant="acme"), "tenant 'acme' must be '_' followed by the tenant id"),
])
def test_bad_options_are_project_errors(options, message):
    with pytest.raises(ProjectError, match=re.escape(message)):
        generate(options)
