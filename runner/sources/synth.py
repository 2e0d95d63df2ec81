"""Synthetic XDM data: the sources a fresh clone builds against, with no credentials.

The generator replays the simulation of Adobe's CMLE notebooks (Week1) for ``users`` people over
``days`` days ending on ``end``. Each user has a few base event streams (ad impressions, page
views, marketing emails) drawn as Poisson processes; every event may trigger dependent events
after an exponential delay (email sent → opened → clicked → page view; page view → link click,
product view, proposition display; product view → purchase; display → interact or dismiss).

A learnable signal is planted: each user carries a propensity score that rises with email clicks,
product views, purchases and proposition interacts, falls with dismisses and decays with a
three-week half-life. After each on-site event a Bernoulli draw on that propensity decides whether
the user subscribes (a ``web.formFilledOut`` event on the page ``subscriptionForm`` a minute
later), so recent engagement predicts a later subscription.

Rows are XDM-shaped with real nested types: ``identityMap`` is a map of lists of structs,
``web``/``commerce``/``directMarketing`` are structs (null when the event has none of them),
``productListItems`` is a list. ``timestamp`` is ``timestamp[us, tz=UTC]``: DuckDB reads it as
``TIMESTAMP WITH TIME ZONE`` and Parquet marks it adjusted-to-UTC, which is what sqlglot maps a
Spark ``TIMESTAMP`` to and what Spark reads back as ``TIMESTAMP``. Only fields real XDM has are
written: a profile's creation time is ``extSourceSystemAudit.createdDate`` (the field group
External Source System Audit Details), not a root field, which XDM allows only under the tenant.

Every user draws from its own ``random.Random`` seeded by ``(seed, user index)``, so the same
options give byte-identical tables and a larger population keeps the smaller one's users.

>>> tables = generate(SynthOptions(users=5, days=10))
>>> sorted(tables), tables["profiles"].num_rows
(['experience_events', 'profiles'], 5)
"""

from __future__ import annotations

import datetime
import heapq
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from runner.errors import ProjectError

EVENT_TYPES: tuple[str, ...] = (
    "advertising.clicks",
    "advertising.impressions",
    "web.webpagedetails.pageViews",
    "web.webinteraction.linkClicks",
    "commerce.productViews",
    "commerce.purchases",
    "decisioning.propositionDisplay",
    "decisioning.propositionInteract",
    "decisioning.propositionDismiss",
    "directMarketing.emailSent",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
    "web.formFilledOut",
)
SUBSCRIPTION_PAGE = "subscriptionForm"
PRODUCER = "runner-synthetic"
SITE = "https://www.acme.example"

_DAY = 86_400
_WEEK = 7 * _DAY
# Base events per week for a user of average activity (before the per-user multiplier).
_BASE_RATES = {"advertising.impressions": 2.0, "web.webpagedetails.pageViews": 1.2,
               "directMarketing.emailSent": 1.5}
# parent -> (child, probability, mean delay in seconds); None: the user's traits decide (_probability).
_CHILDREN: dict[str, tuple[tuple[str, float | None, float], ...]] = {
    "advertising.impressions": (("advertising.clicks", 0.06, 20),),
    "advertising.clicks": (("web.webpagedetails.pageViews", 0.9, 5),),
    "directMarketing.emailSent": (("directMarketing.emailOpened", None, 4 * 3600),),
    "directMarketing.emailOpened": (("directMarketing.emailClicked", None, 60),),
    "directMarketing.emailClicked": (("web.webpagedetails.pageViews", 0.95, 15),),
    "web.webpagedetails.pageViews": (("web.webinteraction.linkClicks", 0.45, 45),
                                     ("commerce.productViews", 0.4, 90),
                                     ("decisioning.propositionDisplay", 0.3, 5)),
    "web.webinteraction.linkClicks": (("web.webpagedetails.pageViews", 0.35, 10),),
    "commerce.productViews": (("commerce.purchases", None, 600),),
    "decisioning.propositionDisplay": (("decisioning.propositionInteract", None, 20),
                                       ("decisioning.propositionDismiss", None, 12)),
}
# How each event moves the subscription propensity; on-site events also trigger a draw.
_DELTAS = {"directMarketing.emailClicked": 0.0035, "commerce.productViews": 0.001,
           "commerce.purchases": 0.005, "decisioning.propositionInteract": 0.004,
           "decisioning.propositionDismiss": -0.008}
_OTHER_DELTA = 0.0001
_BASE_PROPENSITY = 0.0002
_DECAY_SECONDS = 21 * _DAY / math.log(2)
_NO_DRAW_PREFIXES = ("directMarketing.", "advertising.")

_PAGES = (("home", "/", "home"), ("news", "/news", "content"), ("blog", "/blog", "content"),
          ("deals", "/deals", "shop"), ("catalog", "/shop", "shop"), ("support", "/help", "support"),
          ("pricing", "/pricing", "shop"), ("about", "/about", "company"))
_LINKS = (("nav-shop", "/shop", "other"), ("nav-deals", "/deals", "other"),
          ("footer-help", "/help", "other"), ("partner", "https://partner.example", "exit"),
          ("brochure", "/files/brochure.pdf", "download"))
_PRODUCTS = (("SKU-1001", "Trail Runner", 89.0), ("SKU-1002", "City Sneaker", 64.5),
             ("SKU-1003", "Rain Jacket", 129.0), ("SKU-1004", "Wool Socks", 12.0),
             ("SKU-1005", "Day Pack", 54.0), ("SKU-1006", "Water Bottle", 18.5),
             ("SKU-1007", "Headlamp", 34.0), ("SKU-1008", "Fleece", 72.0))
_COUNTRIES = (("US", 0.45), ("GB", 0.15), ("DE", 0.12), ("FR", 0.1), ("CA", 0.1), ("AU", 0.08))
_TIERS = ("bronze", "silver", "gold", "platinum")


@dataclass(frozen=True)
class SynthOptions:
    """What to generate: ``users`` people over the ``days`` days ending on ``end`` (UTC)."""

    users: int = 2000
    days: int = 120
    seed: int = 42
    end: datetime.date = datetime.date(2026, 6, 30)
    tenant: str = "_acmeinc"

    @property
    def start(self) -> datetime.datetime:
        """The first instant of the window (UTC)."""
        first = self.end - datetime.timedelta(days=self.days - 1)
        return datetime.datetime.combine(first, datetime.time(), datetime.timezone.utc)

    def check(self) -> None:
        """Raise ProjectError for options that cannot describe a population."""
        if self.users < 1 or self.days < 1:
            raise ProjectError(f"synthetic data: users ({self.users}) and days ({self.days}) "
                               "must both be at least 1")
        if not re.fullmatch(r"_[A-Za-z][A-Za-z0-9_]*", self.tenant):
            raise ProjectError(f"synthetic data: tenant '{self.tenant}' must be '_' followed by "
                               "the tenant id, e.g. '_acmeinc'")


# -- schemas ------------------------------------------------------------------------------------
def _measure() -> pa.DataType:
    return pa.struct([("value", pa.float64())])


IDENTITY_MAP = pa.map_(pa.string(), pa.list_(pa.struct([("id", pa.string()),
                                                        ("primary", pa.bool_())])))
TIMESTAMP = pa.timestamp("us", tz="UTC")


def events_schema(tenant: str = "_acmeinc") -> pa.Schema:
    """The ``experience_events`` schema (XDM ExperienceEvent with web, commerce and email groups)."""
    web = pa.struct([
        ("webPageDetails", pa.struct([("name", pa.string()), ("URL", pa.string()),
                                      ("siteSection", pa.string()), ("pageViews", _measure())])),
        ("webInteraction", pa.struct([("name", pa.string()), ("URL", pa.string()),
                                      ("type", pa.string()), ("linkClicks", _measure())])),
    ])
    commerce = pa.struct([
        ("productViews", _measure()), ("purchases", _measure()),
        ("order", pa.struct([("priceTotal", pa.float64()), ("currencyCode", pa.string())])),
    ])
    item = pa.struct([("SKU", pa.string()), ("name", pa.string()), ("quantity", pa.int32()),
                      ("priceTotal", pa.float64())])
    marketing = pa.struct([("sends", _measure()), ("opens", _measure()), ("clicks", _measure()),
                           ("messageID", pa.string())])
    return pa.schema([
        ("_id", pa.string()), ("timestamp", TIMESTAMP), ("eventType", pa.string()),
        ("identityMap", IDENTITY_MAP), ("web", web), ("commerce", commerce),
        ("productListItems", pa.list_(item)), ("directMarketing", marketing),
        ("producedBy", pa.string()), (tenant, pa.struct([("userid", pa.string())])),
    ])


def profiles_schema(tenant: str = "_acmeinc") -> pa.Schema:
    """The ``profiles`` schema (XDM Individual Profile, one row per user)."""
    return pa.schema([
        ("_id", pa.string()), ("personID", pa.string()), ("identityMap", IDENTITY_MAP),
        (tenant, pa.struct([("userid", pa.string())])),
        ("person", pa.struct([("birthYear", pa.int32()), ("gender", pa.string())])),
        ("homeAddress", pa.struct([("countryCode", pa.string())])),
        ("loyalty", pa.struct([("tier", pa.string()), ("points", pa.float64())])),
        ("consents", pa.struct([("marketing", pa.struct([
            ("email", pa.struct([("val", pa.string())]))]))])),
        ("extSourceSystemAudit", pa.struct([("createdDate", TIMESTAMP)])),
    ])


# -- simulation ---------------------------------------------------------------------------------
@dataclass
class _User:
    """One simulated person: identity, traits and the random stream everything is drawn from."""

    rng: random.Random
    ecid: str
    activity: float
    email_affinity: float
    offer_affinity: float
    opted_in: bool
    created: int  # seconds from the window start (negative: before the window)


def _new_user(seed: int, index: int, window: int) -> _User:
    rng = random.Random(f"{seed}:{index}")
    created = rng.randrange(-730 * _DAY, 0) if rng.random() < 0.7 else rng.randrange(window)
    return _User(rng=rng, ecid=str(rng.randrange(10**37, 10**38)),
                 activity=rng.lognormvariate(0.0, 0.6), email_affinity=rng.betavariate(2, 3),
                 offer_affinity=rng.betavariate(2, 2), opted_in=rng.random() < 0.75,
                 created=created)


def _probability(user: _User, child: str, base: float | None) -> float:
    """The chance that ``child`` follows its parent for this user."""
    if base is not None:
        return base
    if child == "directMarketing.emailOpened":
        return 0.1 + 0.6 * user.email_affinity
    if child == "directMarketing.emailClicked":
        return 0.05 + 0.5 * user.email_affinity
    if child == "commerce.purchases":
        return 0.04 + 0.1 * min(user.activity, 2.0)
    if child == "decisioning.propositionInteract":
        return 0.4 * user.offer_affinity
    return 0.4 * (1 - user.offer_affinity)  # decisioning.propositionDismiss


def _simulate(user: _User, window: int) -> list[tuple[int, str]]:
    """The user's events as ``(microsecond from window start, eventType)``, in time order."""
    rng, begin = user.rng, max(user.created, 0)
    queue: list[tuple[float, str]] = []
    for event_type, per_week in _BASE_RATES.items():
        rate = per_week * user.activity / _WEEK
        if event_type == "directMarketing.emailSent" and not user.opted_in:
            continue
        t = begin + rng.expovariate(rate)
        while t < window:
            queue.append((t, event_type))
            t += rng.expovariate(rate)
    heapq.heapify(queue)
    events: list[tuple[int, str]] = []
    score, last, subscribed = 0.0, 0.0, False
    while queue:
        t, event_type = heapq.heappop(queue)
        events.append((int(t * 1_000_000), event_type))
        for child, base, delay in _CHILDREN.get(event_type, ()):
            if rng.random() < _probability(user, child, base):
                child_t = t + rng.expovariate(1 / delay)
                if child_t < window:
                    heapq.heappush(queue, (child_t, child))
                if child == "decisioning.propositionInteract":
                    break  # a display is either interacted with or dismissed, not both
        score = score * math.exp(-(t - last) / _DECAY_SECONDS) + _DELTAS.get(event_type, _OTHER_DELTA)
        last = t
        if subscribed or event_type.startswith(_NO_DRAW_PREFIXES) or event_type == "web.formFilledOut":
            continue
        if rng.random() < min(0.5, max(0.0, _BASE_PROPENSITY + score)):
            subscribed = True
            if t + 60 < window:
                heapq.heappush(queue, (t + 60, "web.formFilledOut"))
    return events


# -- rows ---------------------------------------------------------------------------------------
def _identity(ecid: str) -> list[tuple[str, list[dict[str, Any]]]]:
    return [("ECID", [{"id": ecid, "primary": True}])]


def _event_fields(user: _User, event_type: str, state: dict[str, Any]) -> dict[str, Any]:
    """The nested groups of one event; ``state`` carries the last page, product and email seen."""
    rng, one = user.rng, {"value": 1.0}
    if event_type in ("web.webpagedetails.pageViews", "web.formFilledOut"):
        if event_type == "web.formFilledOut":
            name, path, section = SUBSCRIPTION_PAGE, "/subscribe", "subscribe"
        else:
            name, path, section = state["page"] = rng.choice(_PAGES)
        details = {"name": name, "URL": SITE + path, "siteSection": section, "pageViews": one}
        return {"web": {"webPageDetails": details, "webInteraction": None}}
    if event_type == "web.webinteraction.linkClicks":
        name, url, kind = rng.choice(_LINKS)
        page = state.get("page") or _PAGES[0]
        return {"web": {"webPageDetails": {"name": page[0], "URL": SITE + page[1],
                                           "siteSection": page[2], "pageViews": None},
                        "webInteraction": {"name": name, "URL": url if "://" in url else SITE + url,
                                           "type": kind, "linkClicks": one}}}
    if event_type.startswith("commerce."):
        if event_type == "commerce.productViews" or "product" not in state:
            state["product"] = rng.choice(_PRODUCTS)
        sku, name, price = state["product"]
        if event_type == "commerce.productViews":
            commerce = {"productViews": one, "purchases": None, "order": None}
            items = [{"SKU": sku, "name": name, "quantity": 1, "priceTotal": price}]
        else:
            quantity = 1 + (rng.random() < 0.2)
            total = round(price * quantity, 2)
            commerce = {"productViews": None, "purchases": one,
                        "order": {"priceTotal": total, "currencyCode": "USD"}}
            items = [{"SKU": sku, "name": name, "quantity": quantity, "priceTotal": total}]
        return {"commerce": commerce, "productListItems": items}
    if event_type.startswith("directMarketing."):
        if event_type == "directMarketing.emailSent":
            state["message"] = f"msg-{rng.randrange(16**8):08x}"
        kind = event_type.rsplit(".", 1)[1]
        return {"directMarketing": {"sends": one if kind == "emailSent" else None,
                                    "opens": one if kind == "emailOpened" else None,
                                    "clicks": one if kind == "emailClicked" else None,
                                    "messageID": state.get("message")}}
    return {}


def _profile_row(user: _User, start: datetime.datetime, tenant: str) -> dict[str, Any]:
    rng = user.rng
    country = rng.choices([c for c, _ in _COUNTRIES], [w for _, w in _COUNTRIES])[0]
    member = rng.random() < 0.6
    tier = _TIERS[min(3, int(user.activity * 1.6 + rng.random()))] if member else None
    return {
        "_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "personID": user.ecid,
        "identityMap": _identity(user.ecid),
        tenant: {"userid": user.ecid},
        "person": {"birthYear": rng.randrange(1950, 2007) if rng.random() < 0.85 else None,
                   "gender": rng.choice(("female", "male", "not_specified"))
                   if rng.random() < 0.8 else None},
        "homeAddress": {"countryCode": country},
        "loyalty": {"tier": tier, "points": round(rng.uniform(0, 5000) * user.activity)}
        if member else None,
        "consents": {"marketing": {"email": {"val": "y" if user.opted_in else "n"}}},
        "extSourceSystemAudit": {"createdDate": start + datetime.timedelta(seconds=user.created)},
    }


def schemas(tenant: str = "_acmeinc") -> dict[str, pa.Schema]:
    """The schema of each table ``generate`` makes, by name (empty tables of them are what a
    unit test's inputs start from)."""
    return {"experience_events": events_schema(tenant), "profiles": profiles_schema(tenant)}


def generate(options: SynthOptions, on_user: Callable[[], None] | None = None
             ) -> dict[str, pa.Table]:
    """Simulate the population and return ``{'experience_events': ..., 'profiles': ...}``.

    Events are ordered by user then time. The same options give byte-identical tables.
    ``on_user`` is called after each user is simulated (progress).

    Raises:
        ProjectError: for options that cannot describe a population.
    """
    options.check()
    start, window = options.start, options.days * _DAY
    start_us = int(start.timestamp()) * 1_000_000
    columns: dict[str, list[Any]] = {name: [] for name in events_schema(options.tenant).names}
    profiles: list[dict[str, Any]] = []
    for index in range(options.users):
        user = _new_user(options.seed, index, window)
        profiles.append(_profile_row(user, start, options.tenant))
        identity, tenant_value, state = _identity(user.ecid), {"userid": user.ecid}, {}
        for micros, event_type in _simulate(user, window):
            fields = _event_fields(user, event_type, state)
            columns["_id"].append(str(uuid.UUID(int=user.rng.getrandbits(128), version=4)))
            columns["timestamp"].append(start_us + micros)
            columns["eventType"].append(event_type)
            columns["identityMap"].append(identity)
            for group in ("web", "commerce", "productListItems", "directMarketing"):
                columns[group].append(fields.get(group))
            columns["producedBy"].append(PRODUCER)
            columns[options.tenant].append(tenant_value)
        if on_user is not None:
            on_user()
    schema = events_schema(options.tenant)
    events = pa.table([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
    return {"experience_events": events,
            "profiles": pa.Table.from_pylist(profiles, schema=profiles_schema(options.tenant))}


# -- sinks --------------------------------------------------------------------------------------
def check_table_name(name: str) -> str:
    """``name`` if it is a plain identifier (a file or table name as it is), else ProjectError."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ProjectError(f"synthetic data: table name '{name}' must be a plain identifier")
    return name


def write_files(tables: dict[str, pa.Table], directory: Path) -> list[Path]:
    """Write one Parquet file per table, ``<directory>/<name>.parquet``; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = directory / f"{check_table_name(name)}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths
