"""The Data Distiller adapter against the Adobe emulator (backed by PostgreSQL on 127.0.0.1:5432).

The emulator records every request, so these tests pin the exact calls and payloads of a model's
build, and switch on its faults (429, 500, slow responses, an expired token, terminated SQL
connections) to check that a build survives each with the same result and no duplicate dataset.
When PostgreSQL is down the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import threading
import time
from itertools import groupby
from pathlib import Path

import psycopg2
import pytest
import sqlglot

from runner.project.model import ModelDDLConfig
from runner.adapters.data_distiller import DataDistillerAdapter
from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from runner.errors import ProjectError, RunError
from emulator_fixtures import PG_DSN, require_postgres

SECRET = "c2-test-secret-9f8e7d"
QUERIES = "/data/foundation/query/queries"
DATASETS = "/data/foundation/catalog/dataSets"
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def emu():
    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as server:
        yield server


def write_credentials(path: Path, emu: Emulator) -> Path:
    """A notebook-style INI (contract §1.4) for the emulator's credential."""
    path.write_text("[Credential]\n"
                    f"ims_org_id = {emu.org_id}\n"
                    f"sandbox_name = {emu.sandbox}\n"
                    f"client_id = {emu.client_id}\n"
                    f"client_secret = {SECRET}\n"
                    "scopes = openid, AdobeID, read_organizations\n"
                    "tech_acct_id = tech@techacct.adobe.com\n")
    return path


def target_config(emu: Emulator, tmp_path: Path, **extra) -> dict:
    write_credentials(tmp_path / "aep.ini", emu)
    return {"type": "data_distiller", "credentials_file": "aep.ini", "ims_host": emu.url,
            "platform_host": emu.url, "sslmode": "disable", "poll_interval": 0.02,
            "max_concurrent_queries": 2, **extra}


@pytest.fixture
def dd(emu, tmp_path):
    emu.faults.clear()
    emu.requests.clear()
    adapter = DataDistillerAdapter("dd", target_config(emu, tmp_path), tmp_path)
    yield adapter
    adapter.close()
    drop_all(emu)


def drop_all(emu: Emulator) -> None:
    """Empty the sandbox database and disarm faults (the emulator is shared by the module)."""
    emu.faults.clear()
    emu.query_gate.set()
    conn = emu.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, table_type FROM information_schema.tables "
                    "WHERE table_schema = 'public'")
        for name, kind in cur.fetchall():
            kind = "VIEW" if kind == "VIEW" else "TABLE"
            cur.execute(f'DROP {kind} IF EXISTS "{name}" CASCADE')
    conn.close()


def spark(sql: str) -> sqlglot.exp.Query:
    return sqlglot.parse_one(sql, read="spark")


def calls(emu: Emulator) -> list[str]:
    """``METHOD path`` of every recorded request, repeated polls folded into one."""
    seen = [f"{r.method} {r.path}" for r in emu.requests]
    return [key for key, _ in groupby(seen)]


def datasets_named(emu: Emulator, name: str) -> list[str]:
    cat = catalog(emu)
    cat.sync()
    return [ds_id for ds_id, rec in cat.datasets.items() if rec["name"] == name]


# -- rendering --------------------------------------------------------------------------------
def test_ctas_with_data_distiller_options():
    dd = DataDistillerAdapter("dd", {"type": "data_distiller"}, Path("."))
    query = spark("SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id")
    full = ModelDDLConfig(schema="Propensity Features", rowvalidation=False, label="PROFILE")
    assert dd.create_table_sql("feat__ab12", query, full) == (
        "CREATE TABLE feat__ab12 WITH (schema='Propensity Features', rowvalidation='false', "
        "label='PROFILE') AS SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id")
    assert dd.create_table_sql("f", spark("SELECT 1 AS a"), ModelDDLConfig(label="profile")) == (
        "CREATE TABLE f WITH (label='profile') AS SELECT 1 AS a")
    assert dd.create_table_sql("f", spark("SELECT 1 AS a"),
                               ModelDDLConfig(rowvalidation=True)) == (
        "CREATE TABLE f WITH (rowvalidation='true') AS SELECT 1 AS a")
    assert dd.create_table_sql("f", spark("SELECT 1 AS a"), ModelDDLConfig()) == (
        "CREATE TABLE f AS SELECT 1 AS a")
    assert dd.create_view_sql("v__ab12", spark("SELECT a FROM f")) == (
        "CREATE OR REPLACE VIEW v__ab12 AS SELECT a FROM f")
    assert dd.pointer_sql("feat", "feat__ab12") == (
        "CREATE OR REPLACE VIEW feat AS SELECT * FROM feat__ab12")
    assert dd.drop_sql("feat__ab12", "table") == "DROP TABLE IF EXISTS feat__ab12"
    assert dd.drop_sql("feat", "view") == "DROP VIEW IF EXISTS feat"


def test_config_is_validated():
    validate = DataDistillerAdapter.validate_config
    assert validate({"type": "data_distiller", "sandbox": "dev", "max_concurrent_queries": 3,
                     "poll_interval": 1, "query_timeout": 60.5, "sslmode": "verify-full",
                     "single_dataset": True, "ims_host": "https://ims.example",
                     "platform_host": "http://127.0.0.1:9"}, "targets.dd") is None
    for block, message in [
        ({"max_concurrent_queries": 0}, "targets.dd.max_concurrent_queries: expected a whole "
                                        "number >= 1, got 0"),
        ({"max_concurrent_queries": True}, "targets.dd.max_concurrent_queries: expected a whole "
                                           "number >= 1, got bool True"),
        ({"sslmode": "on"}, "targets.dd.sslmode: expected one of disable, allow, prefer, require, "
                            "verify-ca, verify-full, got 'on'"),
        ({"platform_host": "platform.adobe.io"}, "targets.dd.platform_host: expected a URL, got "
                                                 "'platform.adobe.io'"),
        ({"single_dataset": "yes"}, "targets.dd.single_dataset: expected true or false, got str "
                                    "'yes'"),
        ({"sandbx": "dev"}, "targets.dd.sandbx: unknown key (did you mean 'sandbox'?)"),
    ]:
        with pytest.raises(ProjectError) as err:
            validate({"type": "data_distiller", **block}, "targets.dd")
        assert str(err.value).startswith(f"project.yml: {message}")


def test_max_threads_is_max_concurrent_queries(tmp_path):
    assert DataDistillerAdapter("dd", {"type": "data_distiller"}, tmp_path).max_threads == 1
    assert DataDistillerAdapter("dd", {"type": "data_distiller", "max_concurrent_queries": 4},
                                tmp_path).max_threads == 4


# -- one model's build ------------------------------------------------------------------------
def test_materialize_sends_exactly_these_requests(dd, emu):
    sql = dd.create_table_sql("score__01", spark(
        "SELECT id, id * 2 AS doubled FROM VALUES (1), (2), (3) AS t(id)"),
        ModelDDLConfig(label="PROFILE"))
    result = dd.materialize(sql, model="score", physical="score__01")

    assert calls(emu) == ["POST /ims/token/v3", f"POST {QUERIES}",
                          f"GET {QUERIES}/{result.query_id}", f"GET {DATASETS}"]
    token, post, *polls, lookup = emu.requests
    assert token.body.decode().count("client_secret=") == 1
    assert post.json == {"dbName": f"{emu.sandbox}:all", "sql": sql, "name": "score",
                         "description": "runner target 'dd': model score -> score__01"}
    assert {k: post.headers[k] for k in ("x-api-key", "x-gw-ims-org-id", "x-sandbox-name",
                                         "content-type")} == {
        "x-api-key": emu.client_id, "x-gw-ims-org-id": emu.org_id,
        "x-sandbox-name": emu.sandbox, "content-type": "application/json"}
    assert polls and all(p.json is None for p in polls)
    assert lookup.query == {"name": ["score__01"]}

    assert datasets_named(emu, "score__01") == [result.dataset_id]
    assert catalog(emu).options[result.dataset_id] == {"label": "PROFILE"}
    assert (result.rows, result.extra["elapsed_ms"] >= 0) == (3, True)
    assert emu.read_table("score__01").to_pydict() == {"id": [1, 2, 3], "doubled": [2, 4, 6]}


def test_views_pointers_drops_and_reads(dd, emu):
    dd.materialize("CREATE TABLE base__01 AS SELECT 1 AS k, 'a' AS v UNION ALL SELECT 2, 'b'",
                   model="base", physical="base__01")
    dd.execute(dd.pointer_sql("base", "base__01"))
    view = dd.materialize(dd.create_view_sql("recent__01", spark("SELECT k FROM base WHERE k > 1")),
                          model="recent", physical="recent__01")
    assert (view.rows, view.dataset_id) == (None, None)
    posts = [r.json for r in emu.requests_to(QUERIES, "POST")]
    assert [(p["name"], p["sql"]) for p in posts[1:]] == [
        ("runner create_view base", "CREATE OR REPLACE VIEW base AS SELECT * FROM base__01"),
        ("recent", "CREATE OR REPLACE VIEW recent__01 AS SELECT k FROM base WHERE k > 1")]
    assert dd.relations() == {"base__01": "table", "base": "view", "recent__01": "view"}
    assert dd.row_count("base") == 2 and dd.exists("RECENT__01")
    assert dd.fetch("SELECT k, v FROM base ORDER BY k") == [(1, "a"), (2, "b")]
    assert dd.fetch_arrow("SELECT k FROM recent__01").to_pydict() == {"k": [2]}
    assert len(emu.requests_to("/data/foundation/query/connection_parameters")) == 1

    dd.execute(dd.drop_sql("recent__01", "view"))
    assert emu.requests_to(QUERIES, "POST")[-1].json["sql"] == "DROP VIEW IF EXISTS recent__01"
    assert "recent__01" not in dd.relations()

    # Spark replaces a view whatever its new columns (here k dropped): so does the emulator
    dd.materialize("CREATE TABLE base__02 AS SELECT 'c' AS v", model="base", physical="base__02")
    dd.execute(dd.pointer_sql("base", "base__02"))
    assert emu.requests_to(QUERIES, "POST")[-1].json["sql"] == (
        "CREATE OR REPLACE VIEW base AS SELECT * FROM base__02")
    assert dd.fetch_arrow("SELECT * FROM base").to_pydict() == {"v": ["c"]}


def test_failed_query_names_model_and_every_error(dd, emu):
    with pytest.raises(RunError) as err:
        dd.materialize("CREATE TABLE bad__01 AS SELECT * FROM no_such_source", model="bad",
                       physical="bad__01")
    query_id = emu.requests_to(QUERIES + "/", "GET")[0].path.rsplit("/", 1)[1]
    assert str(err.value) == (f"target 'dd': model bad: query {query_id} failed: "
                              'relation "no_such_source" does not exist')
    assert datasets_named(emu, "bad__01") == []


def test_plain_ctas_on_an_existing_table_fails(dd, emu, monkeypatch):
    sql = "CREATE TABLE twice__01 AS SELECT 1 AS a"
    dd.materialize(sql, model="twice", physical="twice__01")
    # even when the second POST's answer is slow, a CTAS this adapter ran itself is not a twin
    post = dd.platform.post

    def slow_answer(*args, **kwargs):
        answer = post(*args, **kwargs)
        time.sleep(0.5)
        return answer

    monkeypatch.setattr(dd.platform, "post", slow_answer)
    with pytest.raises(RunError, match='relation "twice__01" already exists'):
        dd.materialize(sql, model="twice", physical="twice__01")
    assert len(datasets_named(emu, "twice__01")) == 1


def test_a_ctas_posted_twice_adopts_the_first_copy(dd, emu, monkeypatch):
    """A POST retried after Query Service accepted it: the second CTAS fails, the first counts."""
    post = dd.platform.post
    first: list[dict] = []

    def post_twice(path, **kw):
        if not first:
            first.append(post(path, **kw))  # accepted, but the answer was lost
        return post(path, **kw)

    monkeypatch.setattr(dd.platform, "post", post_twice)
    result = dd.materialize("CREATE TABLE dup__01 AS SELECT 1 AS a", model="dup",
                            physical="dup__01")
    assert result.query_id == first[0]["id"] and result.rows == 1
    assert datasets_named(emu, "dup__01") == [result.dataset_id]
    assert len(emu.requests_to(QUERIES, "POST")) == 2
    assert [r.query for r in emu.requests_to(QUERIES, "GET") if r.path == QUERIES] == [
        {"orderby": ["-created"], "limit": ["50"]}]


def test_missing_dataset_is_asked_for_again_then_reported(dd, emu):
    with pytest.raises(RunError) as err:
        dd.dataset_id("nope__01", context="model nope")
    assert str(err.value) == ("target 'dd': model nope: Catalog has 0 datasets named 'nope__01' "
                              "(none); expected exactly one")
    assert len(emu.requests_to(DATASETS, "GET")) == 3


# -- faults -----------------------------------------------------------------------------------
FAULTS = {
    "throttled submit": lambda f: f.throttle(QUERIES, method="POST", retry_after=1),
    "500 on a poll": lambda f: f.fail(f"{QUERIES}/*", method="GET", times=2),
    "500 on Catalog": lambda f: f.fail(f"{DATASETS}*", times=1, status=503),
    "slow poll": lambda f: f.slow(f"{QUERIES}/*", delay=0.3),
    "token expired mid-build": lambda f: f.expire_token(f"{QUERIES}/*", method="GET"),
    "SQL connections terminated": lambda f: f.terminate_connections(f"{DATASETS}*"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_build_survives_fault_with_identical_result(dd, emu, fault):
    dd.open()  # an interactive connection exists, so a terminated backend is noticed
    FAULTS[fault](emu.faults)
    sql = ("CREATE TABLE f__01 AS SELECT id, id % 2 AS odd "
           "FROM VALUES (1), (2), (3), (4), (5) AS t(id)")
    result = dd.materialize(sql, model="f", physical="f__01")
    assert all(f.times == 0 for f in emu.faults.faults), "the fault did not fire"
    assert result.rows == 5 and datasets_named(emu, "f__01") == [result.dataset_id]
    assert emu.read_table("f__01").to_pydict() == {"id": [1, 2, 3, 4, 5], "odd": [1, 0, 1, 0, 1]}
    assert dd.row_count("f__01") == 5  # the interactive session works afterwards
    assert len(emu.requests_to(QUERIES, "POST")) == 1 + (fault == "throttled submit")


def test_expired_token_is_refreshed_and_new_connection_parameters_fetched(dd, emu):
    dd.open()
    emu.faults.expire_token(f"{QUERIES}/*", method="GET")
    dd.materialize("CREATE TABLE t__01 AS SELECT 1 AS a", model="t", physical="t__01")
    emu.faults.terminate_connections(DATASETS)  # the old session dies; reconnect with new token
    dd.execute(dd.pointer_sql("t", "t__01"))
    dd.dataset_id("t__01")
    assert dd.fetch("SELECT a FROM t") == [(1,)]
    tokens = emu.requests_to("/ims/token/v3")
    params = emu.requests_to("/data/foundation/query/connection_parameters")
    assert (len(tokens), len(params)) == (2, 2)
    first, second = (r.headers["authorization"] for r in params)
    assert first != second


def test_a_refused_password_fetches_a_new_token_and_parameters(dd, emu):
    """The token expired early on the server: new connections are refused until it is renewed."""
    assert dd.fetch("SELECT 1") == [(1,)]
    emu.tokens.expire_all()
    emu.engine.terminate_backends()
    assert dd.fetch("SELECT 2") == [(2,)]
    assert [f"{r.method} {r.path}" for r in emu.requests] == [
        "POST /ims/token/v3", "GET /data/foundation/query/connection_parameters",
        "GET /data/foundation/query/connection_parameters",  # 401013 (expired)...
        "POST /ims/token/v3", "GET /data/foundation/query/connection_parameters"]  # ...renewed
    assert emu.requests[2].headers["authorization"] != emu.requests[4].headers["authorization"]


# -- cancelling -------------------------------------------------------------------------------
def test_timeout_cancels_the_query(emu, tmp_path):
    emu.requests.clear()
    dd = DataDistillerAdapter("dd", target_config(emu, tmp_path, query_timeout=0.2), tmp_path)
    emu.query_gate.clear()  # the query stays SUBMITTED
    try:
        with pytest.raises(RunError) as err:
            dd.materialize("CREATE TABLE slow__01 AS SELECT 1 AS a", model="slow",
                           physical="slow__01")
    finally:
        emu.query_gate.set()
        dd.close()
    query_id = emu.requests_to(QUERIES, "PATCH")[0].path.rsplit("/", 1)[1]
    assert str(err.value) == (f"target 'dd': model slow: query {query_id} still SUBMITTED after "
                              "0.2 s; cancelled it (raise query_timeout)")
    assert [r.json for r in emu.requests_to(QUERIES, "PATCH")] == [{"op": "cancel"}]


def test_ctrl_c_cancels_the_query(dd, emu, monkeypatch):
    emu.query_gate.clear()

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("runner.adapters.data_distiller.time.sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        dd.materialize("CREATE TABLE c__01 AS SELECT 1 AS a", model="c", physical="c__01")
    emu.query_gate.set()
    post = emu.requests_to(QUERIES, "POST")[0]
    patch = emu.requests_to(QUERIES, "PATCH")[0]
    assert patch.json == {"op": "cancel"} and patch.path.startswith(QUERIES + "/")
    assert post.json["name"] == "c"


def test_close_cancels_queries_in_flight(dd, emu):
    emu.query_gate.clear()
    errors: list[Exception] = []

    def build() -> None:
        try:
            dd.materialize("CREATE TABLE bg__01 AS SELECT 1 AS a", model="bg", physical="bg__01")
        except RunError as exc:
            errors.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    while not dd.batch.running():
        time.sleep(0.01)
    dd.close()
    worker.join(timeout=10)
    emu.query_gate.set()
    assert [r.json for r in emu.requests_to(QUERIES, "PATCH")] == [{"op": "cancel"}]
    assert len(errors) == 1 and str(errors[0]).endswith("ended in state CANCELLED")


# -- single_dataset ---------------------------------------------------------------------------
def test_single_dataset_scopes_db_name_on_rest_and_psycopg2(emu, tmp_path, monkeypatch):
    emu.requests.clear()
    dd = DataDistillerAdapter("dd", target_config(emu, tmp_path, single_dataset=True), tmp_path)
    dd.materialize("CREATE TABLE src__01 AS SELECT 7 AS a", model="src", physical="src__01")
    dd.materialize("CREATE TABLE two__01 AS SELECT a FROM src__01", model="two",
                   physical="two__01")
    posts = [r.json["dbName"] for r in emu.requests_to(QUERIES, "POST")]
    assert posts == [f"{emu.sandbox}:all", f"{emu.sandbox}:src__01"]

    connects: list[dict] = []
    real_connect = psycopg2.connect

    def recording_connect(*args, **kwargs):
        if args:  # the emulator's own connections (a DSN string)
            return real_connect(*args, **kwargs)
        connects.append(dict(kwargs, password="<token>"))
        return real_connect(**kwargs)  # the emulator's endpoint takes '<sandbox>:<table>

    monkeypatch.setattr(psycopg2, "connect", recording_connect)
    assert dd.fetch("SELECT a FROM two__01") == [(7,)]
    assert dd.fetch("SELECT count(*) FROM two__01 JOIN src__01 USING (a)") == [(1,)]
    assert [c["dbname"] for c in connects] == [f"{emu.sandbox}:two__01", f"{emu.sandbox}:all"]
    params = dd.connection_parameters()
    assert connects[0] == {"host": params["host"], "port": params["port"],
                           "dbname": f"{emu.sandbox}:two__01", "user": emu.org_id,
                           "password": "<token>", "sslmode": "disable",
                           "application_name": "runner", "connect_timeout": 30}
    dd.close()
    drop_all(emu)


# -- secrets ----------------------------------------------------------------------------------
def test_no_secret_in_errors_or_reprs(emu, tmp_path, caplog):
    caplog.set_level("DEBUG")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "aep.ini").write_text(write_credentials(tmp_path / "x.ini", emu).read_text()
                                 .replace(SECRET, SECRET + "-wrong"))
    dd = DataDistillerAdapter("dd", {**target_config(emu, tmp_path)}, bad)
    with pytest.raises(RunError) as err:
        dd.open()
    good = DataDistillerAdapter("dd", target_config(emu, tmp_path), tmp_path)
    good.open()
    token = good.platform.access_token().reveal()
    texts = [str(err.value), repr(err.value), repr(dd), repr(good.platform), repr(good.__dict__),
             repr(good.connection_parameters()), caplog.text]
    good.close()
    for text in texts:
        assert SECRET not in text and token not in text
    assert str(err.value) == (f"POST {emu.url}/ims/token/v3 failed: 401 invalid_client: invalid "
                              "client_secret parameter (check the client id, client secret and "
                              "scopes of the credential)")


def test_runner_debug_checks_credentials_token_and_connection(emu, tmp_path):
    from runner.cli.commands import run_debug

    (tmp_path / "models").mkdir()
    (tmp_path / "project.yml").write_text(
        "name: dbg\ndefault_target: aep\ntargets:\n  aep:\n"
        + "".join(f"    {k}: {v}\n" for k, v in target_config(emu, tmp_path).items()))
    lines: list[str] = []
    from runner import BuildOptions

    assert run_debug(tmp_path, BuildOptions(), echo=lines.append) == 0
    assert lines == ["project and target config ... OK (target 'aep', data_distiller)",
                     "credentials ... OK", "IMS access token ... OK",
                     "Query Service connection parameters ... OK", "connection ... OK",
                     "SELECT 1 ... OK", "All checks passed."]
    (tmp_path / "aep.ini").write_text("[Credential]\nims_org_id = x\n")
    lines.clear()
    assert run_debug(tmp_path, BuildOptions(), echo=lines.append) == 1
    assert lines[1].startswith(f"credentials ... FAIL: {tmp_path / 'aep.ini'}")
    assert lines[1].endswith("to use the AEP_* environment variables)") and len(lines) == 2
