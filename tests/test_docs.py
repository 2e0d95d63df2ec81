"""``runner docs``: the static site (runner.run.docs) holds every model, source and export with
the data the page shows, is self-contained (nothing fetched from a network), builds nothing, and
``--serve`` serves it on 127.0.0.1 on the given port and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.run.docs import ASSETS, DATA_MARK

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shop(project):
    with (project.root / "project.yml").open("a") as yml:
        yml.write("exports: [{model: totals, destination: {type: local, path: cmle}}]\n")
    project.model("stg", "/* config\nmaterialized: view\n*/\n"
                         "SELECT order_id, user_id, amount FROM raw_orders", "models/staging")
    project.model("totals", """
        /* config
        tags: [daily, features]
        description: Spend per user.
        columns:
          user_id:
            description: the user
            data_tests: [not_null, unique]
          total: summed amounts
        */
        SELECT user_id, sum(amount) AS total, date_add(DATE '2024-01-31', 1) AS next_day
        FROM stg GROUP BY user_id
        """)
    return project


def docs(project, *args: str) -> int:
    return main(["docs", "--project-dir", str(project.root), *args])


def site_data(folder: Path) -> dict[str, Any]:
    """The JSON the page embeds."""
    page = (folder / "index.html").read_text(encoding="utf-8")
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert found, "the page embeds no data"
    return json.loads(found.group(1))


def test_site_of_a_built_project(shop, capsys) -> None:
    assert main(["build", "--project-dir", str(shop.root)]) == 0
    capsys.readouterr()
    assert docs(shop) == 0
    out = capsys.readouterr().out
    folder = shop.root / "target" / "docs"
    assert out.endswith(f"Wrote the docs site to {folder} (open {folder / 'index.html'})\n")
    assert sorted(p.name for p in folder.iterdir()) == ["app.js", "index.html", "style.css"]
    assert (folder / "app.js").read_bytes() == (ASSETS / "app.js").read_bytes()
    data = site_data(folder)
    assert (data["project"], data["target"], data["adapter"]) == ("demo", "local", "duckdb")
    assert list(data["models"]) == ["stg", "totals"]

    totals = data["models"]["totals"]
    assert totals["sql"] == (shop.root / "models" / "totals.sql").read_text()
    assert (totals["description"], totals["tags"], totals["materialized"], totals["path"]) == (
        "Spend per user.", ["daily", "features"], "table", "models/totals.sql")
    # compiled for DuckDB: Spark's date_add translated, the parent read through its version
    stg_physical = data["models"]["stg"]["current"]
    assert stg_physical.startswith("stg__")
    assert f"FROM {stg_physical}" in totals["compiled"]
    assert "date_add" not in totals["compiled"].lower()
    assert totals["statements"][0].startswith(f"CREATE TABLE {totals['physical']}")
    assert "\0" in totals["statements"][0] and totals["compiled"] not in totals["statements"][0]
    # columns: the declared ones first with their descriptions, types read from the built table
    assert [(c["name"], c["description"], c["type"], c["type_from"]) for c in totals["columns"]] \
        == [("user_id", "the user", "TEXT", "built"), ("total", "summed amounts", "DECIMAL(13, 1)", "built"),
            ("next_day", "", "DATE", "built")]
    assert [(t["kind"], t["column"], t["last_run"]["status"]) for t in totals["tests"]] == [
        ("not_null", "user_id", "pass"), ("unique", "user_id", "pass")]
    assert totals["last_run"]["status"] == "success" and totals["last_run"]["rows"] == 3
    assert set(totals["last_run"]["timing"]) == {"compile", "execute"}
    assert (totals["parents"], totals["children"]) == (["stg"], [])
    assert data["models"]["stg"]["parents"] == ["source:raw_orders"]

    assert data["sources"]["raw_orders"]["description"] == "orders as they arrive"
    assert [c["name"] for c in data["sources"]["raw_orders"]["columns"]] == [
        "order_id", "user_id", "amount"]
    assert data["sources"]["raw_orders"]["children"] == ["stg"]
    assert [(e["model"], e["type"], e["params"], e["last_run"]["status"])
            for e in data["exports"]] == [("totals", "local", {"path": "cmle"}, "success")]
    assert data["run"]["which"] == "build" and data["run"]["target"] == "local"

    graph = data["graph"]
    assert {n["id"] for n in graph["nodes"]} == {"stg", "totals", "source:raw_orders",
                                                 "source:raw_users"}
    assert sorted(map(tuple, graph["edges"])) == [("source:raw_orders", "stg"), ("stg", "totals")]
    y = {n["id"]: n["y"] for n in graph["nodes"]}
    assert y["source:raw_orders"] < y["stg"] < y["totals"]


def test_site_is_self_contained(shop) -> None:
    """No asset names a network address; every file the page loads is in the folder."""
    assert docs(shop, "--out", str(shop.root / "site")) == 0
    folder = shop.root / "site"
    for path in folder.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name
    page = (folder / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert sorted(loaded) == ["app.js", "style.css"]
    assert all((folder / name).is_file() for name in loaded)
    assert DATA_MARK not in page
    for asset in ASSETS.iterdir():  # the package's own files too, not just this output
        assert not re.search(r"https?:", asset.read_text(encoding="utf-8")), asset.name


def test_docs_build_nothing(shop) -> None:
    """Generated by compiling: no model table appears, and the page says what is unknown."""
    assert docs(shop) == 0
    tables = {name for (name,) in shop.sql("SELECT table_name FROM information_schema.tables")}
    assert tables == {"raw_orders", "raw_users"}
    assert not (shop.root / "target" / "run_results.json").exists()
    data = site_data(shop.root / "target" / "docs")
    totals = data["models"]["totals"]
    assert totals["current"] is None and totals["last_run"] is None
    assert [(c["name"], c["type"], c["type_from"]) for c in totals["columns"]] == [
        ("user_id", "STRING", "compiled"), ("total", "DECIMAL(13, 1)", "compiled"),
        ("next_day", "DATE", "compiled")]
    assert data["run"] == {}


def test_labels_and_lineage_of_each_column(shop) -> None:
    """Each column's lineage back to source columns and its labels (from project.yml, through
    lineage), as the manifest records them, reach the model's page, built or not."""
    yml = shop.root / "project.yml"
    yml.write_text(yml.read_text().replace(
        "    description: orders as they arrive\n",
        "    description: orders as they arrive\n    labels: [C2]\n"
        "    columns:\n      user_id: {description: the buyer, labels: [I1]}\n"))
    assert docs(shop) == 0
    columns = {c["name"]: c for c in site_data(shop.root / "target" / "docs")["models"]["totals"]
               ["columns"]}
    assert columns["user_id"]["labels"] == ["C2", "I1"]
    # grouped by user_id: every column derives from it (via), so carries its labels
    assert columns["total"]["labels"] == ["C2", "I1"] and columns["next_day"]["labels"] == [
        "C2", "I1"]
    assert columns["next_day"]["lineage"] == {"value": [], "via": ["raw_orders.user_id"]}
    assert columns["total"]["lineage"] == {"value": ["raw_orders.amount"],
                                           "via": ["raw_orders.user_id"]}
    assert columns["user_id"]["lineage"] == {"value": ["raw_orders.user_id"], "via": []}
    assert main(["build", "--project-dir", str(shop.root)]) == 0
    manifest = json.loads((shop.root / "target" / "manifest.json").read_text())
    meta = manifest["nodes"]["model.demo.totals"]["meta"]["runner"]
    assert meta["labels"]["total"] == ["C2", "I1"] and meta["lineage"]["total"] == columns["total"][
        "lineage"]

def test_data_cannot_close_the_script_element(shop) -> None:
    shop.model("stg", "SELECT order_id, user_id, amount, '</script><b>x' AS s FROM raw_orders",
               "models/staging")
    assert docs(shop) == 0
    page = (shop.root / "target" / "docs" / "index.html").read_text()
    assert page.count("</script>") == 2  # the data's and app.js's
    assert "'</script><b>x'" in site_data(shop.root / "target" / "docs")["models"]["stg"]["sql"]


def test_data_distiller_docs_connect_to_nothing(shop) -> None:
    """On Data Distiller the site is made offline (as ``runner compile``): no credentials are
    needed, the SQL is the Spark SQL the target runs, and no built types are read."""
    with (shop.root / "project.yml").open("a") as yml:
        yml.write("default_target: aep\ntargets:\n  aep: {type: data_distiller, "
                  "credentials_file: missing.ini, platform_host: 'http://127.0.0.1:9'}\n")
    assert docs(shop) == 0
    data = site_data(shop.root / "target" / "docs")
    assert (data["target"], data["adapter"]) == ("aep", "data_distiller")
    totals = data["models"]["totals"]
    assert "date_add(" in totals["compiled"].lower()  # Spark SQL, as Data Distiller runs it
    assert {c["type_from"] for c in totals["columns"]} <= {"compiled", None}


def test_project_error_exits_2(shop, capsys) -> None:
    shop.model("totals", "SELECT * FROM stgg")
    assert docs(shop) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: models/totals.sql:1:15: unknown table 'stgg'") and err.count("\n") == 1
    assert not (shop.root / "target" / "docs").exists()


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_bad_port_exits_2(shop, capsys, port) -> None:
    with pytest.raises(SystemExit) as exit_:
        docs(shop, "--serve", "--port", port)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"Error: runner docs: argument --port: expected a port "
                                       f"number from 0 to 65535, got '{port}' (see runner docs "
                                       "--help)\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_on_loopback_and_stop(shop, stop) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "emulator")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from runner.cli.main import main; sys.exit(main())",
         "docs", "--serve", "--port", str(port), "--project-dir", str(shop.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[1] == f"Serving the docs at http://127.0.0.1:{port}/ (Ctrl-C to stop)\n", (
            lines, proc.stderr.read() if proc.poll() is not None else "")
        folder = shop.root / "target" / "docs"
        for name in ("", "app.js", "style.css"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}", timeout=10) as reply:
                assert reply.status == 200
                assert reply.read() == (folder / (name or "index.html")).read_bytes()
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "Stopped serving the docs\n" and err == ""


def test_serve_on_a_taken_port_is_one_line(shop, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert docs(shop, "--serve", "--port", str(port)) == 1
    err = capsys.readouterr().err
    assert err == (f"Error: cannot serve the docs on 127.0.0.1:{port}: Address already in use; "
                   "pick another --port (0: any free one)\n")
