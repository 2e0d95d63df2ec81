"""target/manifest.json and target/run_results.json are dbt-shaped: they validate against dbt's
published schemas (manifest v12, run results v6, vendored in tests/schemas) and say what ran."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runner.cli.main import main

SCHEMAS = Path(__file__).parent / "schemas"


def validate(document: dict, schema_file: str) -> None:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        raise AssertionError(f"{schema_file}: {'/'.join(map(str, error.absolute_path))}: "
                             f"{error.message[:400]}")


@pytest.fixture
def shop(project):
    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: totals\n    destination: {type: local, path: cmle}\n"))
    project.model("stg", "/* config\nmaterialized: view\n*/\n"
                         "SELECT order_id, user_id, amount FROM raw_orders", "models/staging")
    project.model("big", "/* config\nmaterialized: ephemeral\n*/\n"
                         "SELECT * FROM stg WHERE amount > var('min_amount')")
    project.model("totals", "/* config\ndescription: per user\ncolumns: {user_id: who}\n*/\n"
                            "SELECT b.user_id, u.tier, sum(b.amount) AS total FROM big b "
                            "JOIN raw_users u ON u.user_id = b.user_id GROUP BY 1, 2")
    return project


def artifacts(project) -> tuple[dict, dict]:
    target = project.root / "target"
    return (json.loads((target / "manifest.json").read_text()),
            json.loads((target / "run_results.json").read_text()))


def test_a_build_writes_artifacts_that_validate_against_dbts_schemas(shop) -> None:
    assert main(["build", "--project-dir", str(shop.root)]) == 0
    manifest, results = artifacts(shop)
    validate(manifest, "manifest_v12.json")
    validate(results, "run-results_v6.json")
    with pytest.raises(AssertionError, match="'models' was unexpected"):  # the old shape
        validate({**manifest, "models": {}}, "manifest_v12.json")
    assert manifest["metadata"]["dbt_schema_version"] == (
        "https://schemas.getdbt.com/dbt/manifest/v12.json")
    assert (manifest["metadata"]["project_name"], manifest["metadata"]["adapter_type"]) == (
        "demo", "duckdb")
    assert manifest["metadata"]["invocation_id"] == results["metadata"]["invocation_id"]
    assert sorted(manifest["nodes"]) == ["model.demo.big", "model.demo.stg", "model.demo.totals"]
    totals = manifest["nodes"]["model.demo.totals"]
    assert totals["depends_on"]["nodes"] == ["model.demo.big", "source.demo.sources.raw_users"]
    assert (totals["path"], totals["original_file_path"], totals["fqn"]) == (
        "totals.sql", "models/totals.sql", ["demo", "totals"])
    assert manifest["nodes"]["model.demo.stg"]["fqn"] == ["demo", "staging", "stg"]
    assert totals["raw_code"] == (shop.root / "models/totals.sql").read_text()
    assert totals["compiled_code"].startswith("WITH big AS (SELECT * FROM stg__")
    assert totals["columns"]["user_id"]["description"] == "who"
    assert totals["columns"]["total"]["data_type"] == "DECIMAL(13, 1)"  # Spark's type
    assert totals["config"]["materialized"] == "table"
    physical = totals["meta"]["runner"]["physical"]
    assert physical == totals["meta"]["runner"]["current"] == (
        f"totals__{totals['meta']['runner']['fingerprint']}")
    assert manifest["parent_map"]["model.demo.big"] == ["model.demo.stg"]
    assert manifest["child_map"]["source.demo.sources.raw_orders"] == ["model.demo.stg"]
    assert manifest["child_map"]["model.demo.totals"] == ["exposure.demo.totals_local"]
    assert manifest["exposures"]["exposure.demo.totals_local"]["type"] == "ml"
    raw = manifest["sources"]["source.demo.sources.raw_orders"]
    assert (raw["identifier"], raw["description"]) == ("raw_orders", "orders as they arrive")
    assert raw["columns"]["amount"]["data_type"] == "DECIMAL(3, 1)"  # as DuckDB reported it

    by_id = {r["unique_id"]: r for r in results["results"]}
    assert list(by_id) == ["model.demo.stg", "model.demo.totals", "exposure.demo.totals_local"]
    built = by_id["model.demo.totals"]
    assert (built["status"], built["relation_name"], built["adapter_response"]["rows_affected"]
            ) == ("success", physical, 3)
    assert [t["name"] for t in built["timing"]] == ["compile", "execute"]
    execute = built["timing"][1]
    assert execute["started_at"] <= execute["completed_at"]
    assert execute["started_at"].endswith("Z") and built["thread_id"].startswith("runner")
    assert built["compiled_code"] == totals["compiled_code"]
    export = by_id["exposure.demo.totals_local"]
    assert export["status"] == "success" and export["adapter_response"]["records"] == 3
    assert export["adapter_response"]["path"].startswith(f"target/exports/cmle/{physical}/")
    assert results["args"]["target"] == "local" and results["elapsed_time"] > 0


def test_a_failed_build_and_a_noop_build_validate_too(shop) -> None:
    shop.model("stg", "SELECT order_id, user_id, amout FROM raw_orders", "models/staging")
    assert main(["build", "--project-dir", str(shop.root)]) == 1
    manifest, results = artifacts(shop)
    validate(manifest, "manifest_v12.json")
    validate(results, "run-results_v6.json")
    statuses = {r["unique_id"]: (r["status"], r["message"][:34]) for r in results["results"]}
    assert statuses == {
        "model.demo.stg": ("error", "models/staging/stg.sql:1:27: Binde"),
        "model.demo.totals": ("skipped", "skipped: upstream model 'stg' fail"),
        "exposure.demo.totals_local": ("skipped", "model totals was not built in this")}
    shop.model("stg", "SELECT order_id, user_id, amount FROM raw_orders", "models/staging")
    assert main(["build", "--project-dir", str(shop.root)]) == 0
    assert main(["build", "--project-dir", str(shop.root)]) == 0
    manifest, results = artifacts(shop)
    validate(results, "run-results_v6.json")
    assert [r["status"] for r in results["results"]] == ["no-op", "no-op", "success"]
    first = results["results"][0]
    assert [t["name"] for t in first["timing"]] == ["compile", "execute"]
