"""The local destination: Spark-style part files under target/exports that equal the DuckDB table."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from destinations import BuiltDataset, ExportContext, parse_exports, run_exports
from destinations.files import read_export, write_export

CLOCK = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
STAMP = "exportTime=202609211413"
ROWS = """
    SELECT * FROM (VALUES
      (1, 'u1', 0.5, DATE '2026-01-02', TIMESTAMP '2026-01-02 03:04:05', 12.25::DECIMAL(10,2)),
      (2, 'u2', NULL, DATE '2026-02-03', TIMESTAMP '2026-02-03 00:00:00', 1.50::DECIMAL(10,2)),
      (3, NULL, -1.0, NULL, NULL, NULL))
    AS t(user_id, name, score, day, ts, amount)"""


class DuckAdapter:
    """The two members of an Adapter the local destination uses, over a DuckDB connection."""

    dialect = "duckdb"

    def __init__(self) -> None:
        self.con = duckdb.connect()

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()


@pytest.fixture
def ctx(tmp_path: Path) -> ExportContext:
    adapter = DuckAdapter()
    adapter.con.execute(f"CREATE TABLE training_set__1a2b3c4d AS {ROWS}")
    lines: list[str] = []
    context = ExportContext(adapter=adapter, target_name="local", target_type="duckdb",
                            project_root=tmp_path, state_dir=tmp_path / "target", platform=None,
                            echo=lines.append, project_name="demo", clock=lambda: CLOCK)
    context.lines = lines  # type: ignore[attr-defined]
    return context


BUILT = {"training_set": BuiltDataset("training_set", "training_set__1a2b3c4d", "1a2b3c4d", None)}


def built(relation: str) -> dict[str, BuiltDataset]:
    return {"training_set": BuiltDataset("training_set", relation, relation[-8:], None)}


def local(**entry: object) -> list:
    return parse_exports([{"model": "training_set", "destination": {"type": "local",
                                                                    "path": "ml"}, **entry}])


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_parquet_files_equal_the_duckdb_table(ctx: ExportContext, tmp_path: Path) -> None:
    [res] = run_exports(local(), BUILT, ctx)
    folder = f"target/exports/ml/training_set__1a2b3c4d/{STAMP}"
    assert (res.status, res.records, res.files, res.path) == ("success", 3, 1, folder)
    assert res.message == f"wrote 3 rows to {folder}"
    [part] = (tmp_path / folder).iterdir()
    assert re.fullmatch(r"part-00000-[0-9a-f-]{36}-c000\.gz\.parquet", part.name)
    assert res.bytes == part.stat().st_size
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "GZIP"
    table = ctx.adapter.fetch_arrow("SELECT * FROM training_set__1a2b3c4d")
    landed = pq.read_table(part)
    assert landed.schema == table.schema
    assert landed.to_pylist() == table.to_pylist()
    assert ctx.lines == [f"exported training_set -> {folder} (3 rows, 1 file(s), {res.bytes} bytes)"]


def test_same_version_writes_nothing_until_files_are_gone(ctx: ExportContext,
                                                          tmp_path: Path) -> None:
    first = run_exports(local(), BUILT, ctx)[0]
    before = files_under(tmp_path / "target/exports")
    again = run_exports(local(), BUILT, ctx)[0]
    assert (again.status, again.records, again.files, again.bytes) == ("success", 3, 1, first.bytes)
    assert again.message == f"up to date: {first.path} already holds this version"
    assert files_under(tmp_path / "target/exports") == before
    for path in (tmp_path / first.path).iterdir():
        path.unlink()
    redo = run_exports(local(), BUILT, ctx)[0]
    assert redo.message == f"wrote 3 rows to {first.path}"
    assert len(files_under(tmp_path / "target/exports")) == 1
    new_version = {"training_set": BuiltDataset("training_set", "training_set__1a2b3c4d",
                                                "99999999", None)}
    assert run_exports(local(), new_version, ctx)[0].message.startswith("wrote 3 rows")


def test_json_lines_are_gzip_with_iso_dates(ctx: ExportContext, tmp_path: Path) -> None:
    built = {"training_set": BuiltDataset("training_set", "training_set__1a2b3c4d", "x", "ds42")}
    [res] = run_exports(local(format="json", compression="gzip"), built, ctx)
    [part] = (tmp_path / res.path).iterdir()
    assert res.path == f"target/exports/ml/ds42/{STAMP}"
    assert part.name.endswith("-c000.json.gz")
    with gzip.open(part, "rt") as lines:
        rows = [json.loads(line) for line in lines]
    assert rows == [
        {"user_id": 1, "name": "u1", "score": 0.5, "day": "2026-01-02",
         "ts": "2026-01-02T03:04:05", "amount": 12.25},
        {"user_id": 2, "name": "u2", "score": None, "day": "2026-02-03",
         "ts": "2026-02-03T00:00:00", "amount": 1.5},
        {"user_id": 3, "name": None, "score": -1.0, "day": None, "ts": None, "amount": None}]


def test_uncompressed_parquet_and_split_parts(tmp_path: Path) -> None:
    table = pa.table({"id": list(range(7)), "v": [f"r{i}" for i in range(7)]})
    paths = write_export(table, tmp_path / "ds", CLOCK, "parquet", "none", run_id="r1",
                         rows_per_file=3)
    assert [p.name for p in paths] == ["part-00000-r1-c000.parquet", "part-00001-r1-c000.parquet",
                                       "part-00002-r1-c000.parquet"]
    assert {p.parent.name for p in paths} == {STAMP}
    assert read_export(paths).to_pylist() == table.to_pylist()
    more = write_export(table.slice(0, 1), tmp_path / "ds", CLOCK, "json", "none", run_id="r2")
    assert [p.name for p in more] == ["part-00000-r2-c000.json"]
    assert files_under(tmp_path / "ds") == sorted(
        f"{STAMP}/{p.name}" for p in paths + more)  # same minute: parts side by side, no temp dir


def test_dry_run_and_delete(ctx: ExportContext, tmp_path: Path) -> None:
    [plan] = run_exports(local(), BUILT, ctx, dry_run=True)
    root = "target/exports/ml/training_set__1a2b3c4d"
    assert (plan.status, plan.message, plan.plan) == (
        "planned", "write parquet (gzip) part files of training_set__1a2b3c4d",
        [f"WRITE {root}/exportTime=… — write parquet (gzip) part files of training_set__1a2b3c4d"])
    assert not (tmp_path / "target/exports").exists()
    run_exports(local(), BUILT, ctx)
    [plan] = run_exports(local(), BUILT, ctx, dry_run=True)  # up to date: no WRITE line
    assert (plan.status, plan.message, plan.plan) == (
        "planned", f"up to date: {root}/{STAMP} already holds this version", [])
    [part] = (tmp_path / root).rglob("part-*")
    [plan] = run_exports(local(), BUILT, ctx, delete=True, dry_run=True)
    assert (plan.status, plan.plan) == ("planned", [
        f"DELETE {part.relative_to(tmp_path)} — written by this export"])
    assert part.exists()
    [gone] = run_exports(local(), BUILT, ctx, delete=True)
    assert (gone.status, gone.message, gone.files) == ("deleted", "removed 1 file(s)", 1)
    assert list((tmp_path / "target/exports").iterdir()) == []  # no empty folder left either
    assert json.loads((tmp_path / "target/exports_state.json").read_text()) == {}


def test_a_new_version_replaces_the_old_one(ctx: ExportContext, tmp_path: Path) -> None:
    ctx.adapter.con.execute("CREATE TABLE training_set__5e6f7a8b AS SELECT 7 AS user_id")
    ctx.adapter.con.execute("CREATE TABLE training_set__9c0d1e2f AS SELECT 8 AS user_id")
    exports = tmp_path / "target/exports"
    others = {  # not this export's: another model, a user's file, another path
        "ml/scores__1a2b3c4d/exportTime=202601010000/part-00000-x-c000.gz.parquet",
        "ml/README.txt", "other/training_set__1a2b3c4d/exportTime=202601010000/part-00000-x"}
    for name in others:
        (exports / name).parent.mkdir(parents=True, exist_ok=True)
        (exports / name).write_text("keep")
    first = run_exports(local(), BUILT, ctx)[0]
    second = run_exports(local(), built("training_set__5e6f7a8b"), ctx)[0]
    folder = f"target/exports/ml/training_set__5e6f7a8b/{STAMP}"
    assert (second.status, second.message) == (
        "success", f"wrote 1 rows to {folder}; removed 1 superseded file(s)")
    assert not (tmp_path / first.path).parent.exists()
    [part] = (tmp_path / folder).iterdir()
    assert set(files_under(exports)) == others | {f"ml/training_set__5e6f7a8b/{STAMP}/{part.name}"}
    assert pq.read_table(part).to_pylist() == [{"user_id": 7}]
    (tmp_path / "target/exports_state.json").unlink()  # state lost: found by folder name
    [plan] = run_exports(local(), built("training_set__9c0d1e2f"), ctx, dry_run=True)
    assert plan.plan == [
        f"WRITE target/exports/ml/training_set__9c0d1e2f/exportTime=… — write parquet (gzip) "
        "part files of training_set__9c0d1e2f",
        f"DELETE {folder}/{part.name} — superseded by the current version"]
    third = run_exports(local(), built("training_set__9c0d1e2f"), ctx)[0]
    assert third.message.endswith("; removed 1 superseded file(s)")
    [part] = (tmp_path / third.path).iterdir()
    assert set(files_under(exports)) == others | {f"ml/training_set__9c0d1e2f/{STAMP}/{part.name}"}
    [gone] = run_exports(local(), built("training_set__9c0d1e2f"), ctx, delete=True)
    assert (gone.status, gone.files) == ("deleted", 1)
    assert set(files_under(exports)) == others


def test_another_export_of_the_same_folder_keeps_its_files(ctx: ExportContext,
                                                          tmp_path: Path) -> None:
    both = parse_exports([
        {"model": "training_set", "destination": {"type": "local", "path": "ml"}},
        {"model": "training_set", "name": "as_json", "format": "json",
         "destination": {"type": "local", "path": "ml"}}])
    results = run_exports(both, BUILT, ctx)
    assert [r.message for r in results] == [f"wrote 3 rows to target/exports/ml/"
                                            f"training_set__1a2b3c4d/{STAMP}"] * 2
    ctx.clock = lambda: CLOCK + 120
    again = run_exports(both[:1], BUILT, ctx, force=True)[0]
    assert again.message == ("wrote 3 rows to target/exports/ml/training_set__1a2b3c4d/"
                             "exportTime=202609211415; removed 1 superseded file(s)")
    assert [Path(f).suffixes[-2:] for f in files_under(tmp_path / "target/exports")] == [
        [".json", ".gz"], [".gz", ".parquet"]]


def test_force_writes_a_new_export_time_folder(ctx: ExportContext, tmp_path: Path) -> None:
    root = tmp_path / "target/exports/ml/training_set__1a2b3c4d"
    first = run_exports(local(), BUILT, ctx)[0]
    [old] = (tmp_path / first.path).iterdir()
    ctx.clock = lambda: CLOCK + 120
    [plan] = run_exports(local(), BUILT, ctx, dry_run=True, force=True)
    assert plan.plan == [
        "WRITE target/exports/ml/training_set__1a2b3c4d/exportTime=… — write parquet (gzip) "
        "part files of training_set__1a2b3c4d",
        f"DELETE {first.path}/{old.name} — superseded by the current version"]
    forced = run_exports(local(), BUILT, ctx, force=True)[0]
    folder = "target/exports/ml/training_set__1a2b3c4d/exportTime=202609211415"
    assert (forced.status, forced.records, forced.path) == ("success", 3, folder)
    assert [p.name for p in root.iterdir()] == ["exportTime=202609211415"]
    [new] = (tmp_path / folder).iterdir()
    assert new.name != old.name
    same_minute = run_exports(local(), BUILT, ctx, force=True)[0]  # parts replaced in place
    assert same_minute.path == folder
    assert [p.name for p in (tmp_path / folder).iterdir()] != [new.name]
    assert len(files_under(root)) == 1
    assert run_exports(local(), BUILT, ctx)[0].message == (
        f"up to date: {folder} already holds this version")


def test_what_does_not_apply_is_skipped_with_the_reason(ctx: ExportContext) -> None:
    specs = parse_exports([
        {"model": "training_set", "destination": {"type": "local"}, "targets": ["prod"]},
        {"model": "scores", "destination": {"type": "local"}},
        {"model": "training_set", "destination": {"type": "data_landing_zone", "path": "x"}},
    ])
    assert [(r.status, r.message) for r in run_exports(specs, BUILT, ctx)] == [
        ("skipped", "declared for target(s) prod, not 'local'"),
        ("skipped", "model scores was not built in this run"),
        ("skipped", "a data_landing_zone export needs a data_distiller target; 'local' is duckdb "
                    "(use `type: local` to export locally)")]


def test_a_failed_export_is_an_error_result(ctx: ExportContext) -> None:
    ctx.adapter.fetch_arrow = lambda sql: (_ for _ in ()).throw(OSError("disk full"))
    [res] = run_exports(local(), BUILT, ctx)
    assert (res.status, res.message) == (
        "error", "local export of training_set__1a2b3c4d failed: disk full")
    assert res.to_dict() == {"model": "training_set", "destination": "local", "status": "error",
                             "message": res.message, "flow_id": None, "run_id": None,
                             "records": None, "bytes": None, "files": None, "path": None,
                             "plan": [], "labels": None}


def test_sftp_ssh_key_is_sent_base64(ctx: ExportContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from destinations.flow_service import FlowExport
    from destinations.state import ExportState

    monkeypatch.setenv("SFTP_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    [spec] = parse_exports([{"model": "training_set", "destination": {
        "type": "sftp", "domain": "h.example", "username": "ml", "remote_path": "/in",
        "ssh_key_env": "SFTP_KEY"}}])
    dataset = BuiltDataset("training_set", "training_set__1a2b3c4d", "1a2b3c4d", "ds1")
    export = FlowExport(spec, dataset, ctx, ExportState(ctx.state_dir))
    assert export.base_payload() == {
        "name": "runner:demo:training_set:sftp:base",
        "connectionSpec": {"id": "36965a81-b1c6-401b-99f8-22508f1e6a26", "version": "1.0"},
        "auth": {"specName": "SFTP with SSH Key", "params": {
            "domain": "h.example", "username": "ml",
            "sshKey": "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYWJjCg=="}}}
    assert export.landing() == "h.example/in/ds1"
    assert "abc" not in repr(export.secrets)


def test_an_unexpected_response_shape_is_an_error_result(ctx: ExportContext) -> None:
    class Platform:
        def request(self, method: str, path: str, **kw: object) -> object:
            return {"items": [{"id": "f1", "name": "runner:demo:training_set:data_landing_zone"}]}

    ctx.platform, ctx.target_type = Platform(), "data_distiller"
    specs = parse_exports([{"model": "training_set",
                            "destination": {"type": "data_landing_zone", "path": "p"}}])
    built = {"training_set": BuiltDataset("training_set", "t__1", "1", "ds1")}
    [res] = run_exports(specs, built, ctx)
    assert (res.status, res.message) == ("error", "unexpected Flow Service response while "
                                         "exporting training_set: KeyError: 'targetConnectionIds'")
