"""Data usage labels follow the data: declared on sources in project.yml, derived for every model
column as the union over its lineage (a dataset label on every field; a label reaching a column
only through a join key or an aggregate's condition still reaches it), recorded in the manifest,
listed by ``runner ls --labels``, and enforced on exports (C12 never, C9 not for ML, a
destination's ``refuse_labels``), with an audited ``allow_labels`` override.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from runner import BuildOptions, build
from runner.cli.main import main
from runner.compile.lineage import derived_labels, project_lineage
from runner.errors import ProjectError
from runner.project.loader import load
from runner.run.session import load as checked_load

REPO = Path(__file__).resolve().parents[1]

SEED = """
    CREATE TABLE raw_orders AS SELECT * FROM (VALUES
      (1, 'u1', 5.0, 'paid', 'web'), (2, 'u1', 20.0, 'paid', 'app'), (3, 'u2', 30.0, 'refunded', 'web'),
      (4, 'u3', 12.5, 'paid', 'web')) AS t(order_id, user_id, amount, status, channel);
    CREATE TABLE raw_users AS SELECT * FROM (VALUES ('u1', 'gold'), ('u2', 'silver'),
      ('u3', 'gold')) AS t(user_id, tier);
"""
MODELS = {
    "stg_orders": """
        /* config
        materialized: view
        */
        SELECT order_id, user_id, amount, status, channel FROM raw_orders
        """,
    # status reaches spend only through the aggregate's condition (HAVING)
    "user_spend": """
        SELECT user_id, SUM(amount) AS spend, MAX(order_id) AS last_order
        FROM stg_orders GROUP BY user_id
        HAVING SUM(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END) = 0
        """,
    "user_tier": "SELECT user_id, tier FROM raw_users",
    # user_id is not a column of the training set: it reaches it only as the join key
    "training_set": """
        SELECT t.tier, s.spend FROM user_tier AS t JOIN user_spend AS s ON s.user_id = t.user_id
        """,
}


def write(root: Path, *, orders: dict | None = None, users: dict | None = None,
          exports: list | None = None, **extra) -> Path:
    """The project: project.yml with the sources' label declarations, the four models."""
    config = {"name": "labelled", "sources": {
        "raw_orders": {"columns": {"order_id": "", "user_id": "", "amount": "", "status": "",
                                   "channel": "", **(orders or {})}},
        "raw_users": {"columns": {"user_id": "", "tier": ""}, **(users or {})}},
        "exports": exports if exports is not None else [
            {"model": "training_set", "destination": {"type": "local", "path": "ml"}}],
        **extra}
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for name, sql in MODELS.items():
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / f"{name}.sql").write_text(textwrap.dedent(sql).lstrip("\n"))
    import duckdb

    (root / "target").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / "target" / "local.duckdb"))
    try:
        con.execute("DROP TABLE IF EXISTS raw_orders; DROP TABLE IF EXISTS raw_users;" + SEED)
    finally:
        con.close()
    return root


def run(root: Path):
    lines: list[str] = []
    result = build(root, BuildOptions(), echo=lines.append)
    return result, lines


def export_entry(root: Path) -> dict:
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return next(r for r in results if r["unique_id"].startswith("exposure."))


C9_STATUS = {"status": {"description": "order status", "labels": ["C9"]}}


def test_labels_propagate_through_join_keys_aggregates_and_dataset_labels(tmp_path: Path) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS,
                 users={"labels": ["C2"], "columns": {"user_id": {"labels": ["I1"]}, "tier": ""}})
    project = load(root)
    lineage = project_lineage(project)
    labels = derived_labels(lineage, project.config.source_labels())
    assert labels == {
        "stg_orders": {"status": frozenset({"C9"})},
        "user_spend": {c: frozenset({"C9"}) for c in ("user_id", "spend", "last_order")},
        "user_tier": {"user_id": frozenset({"C2", "I1"}), "tier": frozenset({"C2"})},
        "training_set": {"tier": frozenset({"C2", "C9", "I1"}),
                         "spend": frozenset({"C2", "C9", "I1"})},
    }
    # the labels reach spend through lineage that is not its value: HAVING and the join key
    spend = lineage.trace("training_set", "spend")
    assert spend.value == {"raw_orders.amount"}
    assert {"raw_orders.status", "raw_users.user_id"} <= spend.via
    result, _ = run(root)
    assert result.exit_code == 1  # the export is refused (C9 for ML); the models are built
    assert [r.status for r in result.results] == ["success"] * 4
    node = json.loads((root / "target" / "manifest.json").read_text())["nodes"]
    assert node["model.labelled.training_set"]["meta"]["runner"]["labels"] == {
        "tier": ["C2", "C9", "I1"], "spend": ["C2", "C9", "I1"]}
    assert node["model.labelled.stg_orders"]["meta"]["runner"]["labels"] == {"status": ["C9"]}


REFUSED_C9 = ("refused by the label policy: columns tier, spend carry C9 from raw_orders.status "
              "(through a join key, filter or grouping) (no data science); remove those columns "
              "from the model, or add `allow_labels: {C9: \"<reason>\"}` to exports[0] in "
              "project.yml (an audited override)")


def test_c9_blocks_the_ml_export_not_the_build(tmp_path: Path) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS)
    result, lines = run(root)
    assert result.exit_code == 1
    assert [r.status for r in result.results] == ["success"] * 4
    assert f"export training_set -> local: error: {REFUSED_C9}" in lines
    assert not (root / "target" / "exports").exists()  # nothing was written
    entry = export_entry(root)
    assert entry["status"] == "error" and entry["message"] == REFUSED_C9
    assert entry["adapter_response"]["labels"] == {"allowed": {}, "refused": [
        {"column": "tier", "label": "C9", "source": "raw_orders.status", "via": True},
        {"column": "spend", "label": "C9", "source": "raw_orders.status", "via": True}]}


def test_allow_labels_overrides_and_is_recorded(tmp_path: Path) -> None:
    reason = "approved by the DPO, ticket GOV-42"
    root = write(tmp_path / "p", orders=C9_STATUS, exports=[
        {"model": "training_set", "destination": {"type": "local", "path": "ml"},
         "allow_labels": {"C9": reason}}])
    result, lines = run(root)
    assert result.ok
    assert (f"export training_set -> local: allowed by allow_labels in exports[0]: C9 on tier, "
            f"spend (reason: {reason})") in lines
    assert [e.status for e in result.exports] == ["success"]
    assert result.exports[0].records == 2  # u1 and u3 (u2 refunded)
    entry = export_entry(root)
    assert entry["status"] == "success"
    assert entry["adapter_response"]["labels"] == {
        "refused": [], "allowed": {"C9": {"reason": reason, "columns": ["tier", "spend"]}}}


def test_destination_refuse_labels_and_purpose(tmp_path: Path) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS, users={"labels": ["C2"]}, exports=[
        {"model": "training_set", "purpose": "analytics",
         "destination": {"type": "local", "path": "ml", "refuse_labels": ["C2"]}}])
    result, lines = run(root)
    assert result.exit_code == 1
    # purpose analytics: C9 is no reason to refuse; C2 is, at this destination
    assert result.exports[0].message == (
        "refused by the label policy: column tier carries C2 from raw_users (dataset label) (no "
        "export to third parties); column spend carries C2 from raw_users (dataset label) "
        "(through a join key, filter or grouping) (no export to third parties); remove those "
        "columns from the model, or add `allow_labels: {C2: \"<reason>\"}` to exports[0] in "
        "project.yml (an audited override)")


def test_c12_is_never_exported_and_cannot_be_allowed(tmp_path: Path) -> None:
    root = write(tmp_path / "p", orders={"amount": {"labels": ["C12"]}}, exports=[
        {"model": "training_set", "purpose": "analytics",
         "destination": {"type": "local", "path": "ml"}}])
    result, _ = run(root)
    assert result.exports[0].status == "error"
    assert result.exports[0].message == (
        "refused by the label policy: column spend carries C12 from raw_orders.amount (no "
        "export at all); remove those columns from the model (C12 data is never exported)")
    write(root, orders={"amount": {"labels": ["C12"]}}, exports=[
        {"model": "training_set", "destination": {"type": "local"},
         "allow_labels": {"C12": "we need it"}}])
    with pytest.raises(ProjectError) as err:
        checked_load(root)
    assert str(err.value) == (
        "project.yml: exports[0].allow_labels.C12: C12 data is never exported and cannot be "
        "allowed; remove the C12 columns from training_set instead")


def test_ls_labels(tmp_path: Path, capsys) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS, users={"columns": {
        "user_id": {"description": "the user", "labels": ["I1"]}, "tier": ""}})
    assert main(["ls", "--labels", "--project-dir", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "stg_orders", "  status: C9",
        "user_spend", "  user_id: C9", "  spend: C9", "  last_order: C9",
        "user_tier", "  user_id: I1",
        "training_set", "  tier: C9, I1", "  spend: C9, I1",
    ]
    assert main(["ls", "--labels", "-s", "user_tier", "--project-dir", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == ["user_tier", "  user_id: I1"]


def test_lineage_command_shows_labels(tmp_path: Path, capsys) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS)
    assert main(["lineage", "training_set.spend", "--project-dir", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "training_set.spend  [C9]",
        "└─ user_spend.spend  [C9]",
        "   └─ stg_orders.amount",
        "      └─ raw_orders.amount (source)",
        "sources: raw_orders.amount",
        "via (join keys, filters, groupings): raw_orders.status, raw_orders.user_id, "
        "raw_users.user_id",
    ]


@pytest.mark.parametrize("orders, users, extra, message", [
    ({"status": {"labels": ["C99"]}}, None, {},
     "project.yml:10: sources.raw_orders.columns.status.labels: unknown data usage label 'C99' "
     "(did you mean 'C9'?); use a core label (C1-C12, I1, I2, S1-S3, PSPD, RHD) or declare it "
     "under custom_labels:"),
    (None, {"labels": ["pii"]}, {},
     "project.yml:15: sources.raw_users.labels: unknown data usage label 'pii'; use a core "
     "label (C1-C12, I1, I2, S1-S3, PSPD, RHD) or declare it under custom_labels:"),
    ({"status": {"labels": "C9", "desc": "x"}}, None, {},
     "project.yml: sources.raw_orders.columns.status.desc: unknown key (allowed: "
     "description, labels)"),
    (None, None, {"exports": [{"model": "training_set", "destination": {
        "type": "local", "refuse_labels": ["C22"]}}]},
     "project.yml:19: exports[0].destination.refuse_labels: unknown data usage label 'C22' "
     "(did you mean 'C2'?); use a core label (C1-C12, I1, I2, S1-S3, PSPD, RHD) or declare it "
     "under custom_labels:"),
    (None, None, {"exports": [{"model": "training_set", "destination": {"type": "local"},
                               "allow_labels": {"C9": ""}}]},
     "project.yml: exports[0].allow_labels.C9: give the reason this export may carry C9 (an "
     "audited override: C9: \"approved by ...\")"),
])
def test_bad_label_config(tmp_path: Path, orders, users, extra, message) -> None:
    root = write(tmp_path / "p", orders=orders, users=users, **extra)
    with pytest.raises(ProjectError) as err:
        checked_load(root)
    assert str(err.value) == message


def test_custom_labels_are_known(tmp_path: Path) -> None:
    root = write(tmp_path / "p", orders={"channel": {"labels": ["partner_only"]}},
                 custom_labels=["partner_only"], exports=[
                     {"model": "training_set",
                      "destination": {"type": "local", "refuse_labels": ["partner_only"]}}])
    project = checked_load(root)
    assert project.config.source_labels() == {
        "raw_orders": {"dataset": set(), "fields": {"channel": {"partner_only"}}}}
    result, _ = run(root)
    assert result.ok  # channel reaches no column of the training set


def test_example_project_refuses_the_export_of_a_c9_field(tmp_path: Path) -> None:
    """The issue's done-when: one source field marked C9 stops the training set's export with
    a message naming the field and the feature derived from it."""
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(REPO / "project.yml", root)
    for folder in ("models", "macros"):
        shutil.copytree(REPO / folder, root / folder)
    text = (root / "project.yml").read_text()
    line = "      commerce: productViews.value, purchases.value, order {priceTotal, currencyCode}\n"
    assert line in text
    (root / "project.yml").write_text(text.replace(line, (
        "      commerce:\n"
        "        description: productViews.value, purchases.value, order {priceTotal, currencyCode}\n"
        "        labels: [C9]\n")))
    result, lines = run(root)
    assert result.exit_code == 1
    assert all(r.status == "success" for r in result.results)
    local = next(e for e in result.exports if e.destination == "local")
    assert local.status == "error"
    assert local.message == (
        "refused by the label policy: columns revenue_30d, revenue_90d, avg_order_value_90d, "
        "revenue_to_date carry C9 from experience_events.commerce (no data science); remove "
        "those columns from the model, or add `allow_labels: {C9: \"<reason>\"}` to exports[0] "
        "in project.yml (an audited override)")
    assert f"export training_set -> local: error: {local.message}" in lines


SECRET = "labels-build-secret-9c1d"


def distiller(root: Path, emu) -> tuple[dict, dict]:
    """The sandbox seeded with the raw tables, and (the targets block of an emulated Data
    Distiller target whose credentials file is in ``root``, a Data Landing Zone export)."""
    conn = emu.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute(SEED)
    conn.close()
    root.mkdir(parents=True, exist_ok=True)
    (root / "aep.ini").write_text(
        f"[Credential]\nims_org_id = {emu.org_id}\nsandbox_name = {emu.sandbox}\n"
        f"client_id = {emu.client_id}\nclient_secret = {SECRET}\n"
        "scopes = openid, AdobeID, read_organizations\ntech_acct_id = t@techacct.adobe.com\n")
    target = {"aep": {"type": "data_distiller", "credentials_file": "aep.ini",
                      "ims_host": emu.url, "platform_host": emu.url, "sslmode": "disable",
                      "poll_interval": 0.02}}
    dlz = {"model": "training_set", "destination": {"type": "data_landing_zone", "path": "ml"},
           "wait": {"adhoc_retry_wait": 0, "poll_interval": 0, "run_timeout": 60}}
    return target, dlz


@pytest.mark.postgres
def test_flow_service_export_is_refused_before_any_flow(tmp_path: Path) -> None:
    """On Data Distiller (emulated), the refused export sends no Flow Service request; with
    the override the same export creates its flow and runs."""
    from aep_emulator import Emulator
    from aep_emulator.flowservice import flowservice
    from emulator_fixtures import PG_DSN, require_postgres

    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as emu:
        target, dlz = distiller(tmp_path / "p", emu)
        root = write(tmp_path / "p", orders=C9_STATUS, targets=target, default_target="aep",
                     exports=[dlz])
        result, lines = run(root)
        assert result.exit_code == 1
        assert [r.status for r in result.results] == ["success"] * 4
        assert result.exports[0].status == "error"
        assert result.exports[0].message == REFUSED_C9
        assert [r.path for r in emu.requests if "flowservice" in r.path] == []
        assert all(not objs for objs in flowservice(emu).objects.values())
        assert export_entry(root)["adapter_response"]["labels"]["refused"][0] == {
            "column": "tier", "label": "C9", "source": "raw_orders.status", "via": True}

        write(root, orders=C9_STATUS, targets=target, default_target="aep",
              exports=[{**dlz, "allow_labels": {"C9": "approved for the churn pilot"}}])
        result, lines = run(root)
        assert result.ok, lines
        assert result.exports[0].status == "success"
        assert len(flowservice(emu).objects["flows"]) == 1
        assert export_entry(root)["adapter_response"]["labels"]["allowed"] == {
            "C9": {"reason": "approved for the churn pilot", "columns": ["tier", "spend"]}}


def test_runner_export_applies_the_same_policy(tmp_path: Path, capsys) -> None:
    root = write(tmp_path / "p", orders=C9_STATUS)
    run(root)
    capsys.readouterr()
    assert main(["export", "--project-dir", str(root)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"export training_set -> local: error: {REFUSED_C9}"]
    assert not (root / "target" / "exports").exists()
    write(root, orders=C9_STATUS, exports=[
        {"model": "training_set", "destination": {"type": "local", "path": "ml"},
         "allow_labels": {"C9": "pilot"}}])
    assert main(["export", "--project-dir", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("export training_set -> local: allowed by allow_labels in exports[0]: C9 on "
                      "tier, spend (reason: pilot)")
    assert out[-1].startswith("export training_set -> local: success: wrote 2 rows to ")


@pytest.mark.postgres
def test_a_c9_label_on_platform_refuses_the_export_and_labels_the_built_datasets(
        tmp_path: Path, capsys) -> None:
    """Nothing in project.yml: a data steward put C9 on raw_orders.status in Platform. The
    Data Distiller build reads it (contract §7), the derived labels are written to the built
    datasets, and the ML export is refused, by the build and by `runner export` alike."""
    from aep_emulator import Emulator
    from aep_emulator.catalog import catalog
    from aep_emulator.flowservice import flowservice
    from emulator_fixtures import PG_DSN, require_postgres

    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as emu:
        target, dlz = distiller(tmp_path / "p", emu)
        cat = catalog(emu)
        cat.sync()
        (orders,) = [k for k, v in cat.datasets.items() if v["name"] == "raw_orders"]
        emu.seed_labels(orders, [], {"status": ["C9"]})
        root = write(tmp_path / "p", targets=target, default_target="aep", exports=[dlz])
        result, lines = run(root)
        assert [r.status for r in result.results] == ["success"] * 4
        assert result.exit_code == 1 and result.exports[0].message == REFUSED_C9
        assert [r.path for r in emu.requests if "flowservice" in r.path] == []
        built = {r.name: r.dataset_id for r in result.results if r.dataset_id}
        training = emu.labels(built["training_set"])
        assert {o["option"]["schemaPath"]: o["labels"] for o in training["optionalLabels"]} == {
            "/properties/tier": ["C9"], "/properties/spend": ["C9"]}
        capsys.readouterr()
        from runner.cli.main import main as runner_main

        assert runner_main(["export", "--project-dir", str(root)]) == 1
        assert capsys.readouterr().out.splitlines() == [
            f"export training_set -> data_landing_zone: error: {REFUSED_C9}"]
        assert all(not objs for objs in flowservice(emu).objects.values())
