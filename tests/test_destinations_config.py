"""The `exports:` schema of project.yml: what is accepted, and the exact message for what is not."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from destinations import ExportSpec, Schedule, Wait, parse_exports
from runner.errors import ProjectError

S3 = {"type": "amazon_s3", "bucket": "ml-bucket", "path": "features",
      "access_key_env": "AWS_KEY", "secret_key_env": "AWS_SECRET"}


def one(**entry: object) -> ExportSpec:
    return parse_exports([{"model": "Training_Set", "destination": S3, **entry}])[0]


def test_full_entry_parses_into_a_spec() -> None:
    spec = one(name="s3_daily", format="JSON", compression="gzip", targets=["prod"],
               schedule={"time_unit": "day", "interval": 1, "start_time": "2026-12-01T06:00:00Z",
                         "end_time": datetime(2027, 6, 1), "export_mode":
                         "FIRST_FULL_THEN_INCREMENTAL"},
               wait={"adhoc_retries": 2, "run_timeout": 600})
    assert spec == ExportSpec(
        model="training_set", name="s3_daily", type="amazon_s3", params=dict(
            bucket="ml-bucket", path="features", access_key_env="AWS_KEY",
            secret_key_env="AWS_SECRET"),
        format="json", compression="gzip",
        schedule=Schedule("day", 1, 1796104800, 1811808000, "FIRST_FULL_THEN_INCREMENTAL"),
        targets=("prod",), wait=Wait(adhoc_retries=2, run_timeout=600), keypath="exports[0]")
    assert spec.schedule.start_time == int(datetime(2026, 12, 1, 6, tzinfo=timezone.utc).timestamp())


def test_defaults_and_every_type() -> None:
    specs = parse_exports([
        {"model": "t", "destination": {"type": "local", "path": "ml/"}},
        {"model": "t", "destination": {"type": "data_landing_zone", "path": "cmle/egress"},
         "schedule": "ad_hoc"},
        {"model": "t", "destination": {"type": "azure_blob", "container": "c", "path": "p",
                                       "connection_string_env": "AZ"}},
        {"model": "t", "destination": {"type": "adls_gen2", "path": "p", "url": "https://a",
                                       "service_principal_id": "id", "tenant": "t",
                                       "service_principal_key_env": "SPK"}},
        {"model": "t", "destination": {"type": "google_cloud_storage", "bucket": "b", "path": "p",
                                       "access_key_env": "G1", "secret_key_env": "G2"}},
        {"model": "t", "destination": {"type": "sftp", "domain": "h", "username": "u",
                                       "remote_path": "/in", "ssh_key_env": "KEY"}},
    ])
    assert [(s.type, s.name, s.format, s.compression, s.schedule) for s in specs] == [
        ("local", "local", "parquet", "gzip", None),
        ("data_landing_zone", "data_landing_zone", "parquet", "gzip", None),
        ("azure_blob", "azure_blob", "parquet", "gzip", None),
        ("adls_gen2", "adls_gen2", "parquet", "gzip", None),
        ("google_cloud_storage", "google_cloud_storage", "parquet", "gzip", None),
        ("sftp", "sftp", "parquet", "gzip", None)]
    assert specs[0].params == {"path": "ml"}
    assert parse_exports(None) == []


@pytest.mark.parametrize("entry, message", [
    ({"destination": S3},
     "exports[0]: missing `model`"),
    ({"model": "t", "destination": S3, "fromat": "json"},
     "exports[0].fromat: unknown key (did you mean 'format'?) (allowed: allow_labels, "
     "compression, destination, format, model, name, purpose, schedule, targets, wait)"),
    ({"model": "t", "destination": {**S3, "type": "s3"}},
     "exports[0].destination.type: expected one of local, amazon_s3, azure_blob, adls_gen2, "
     "data_landing_zone, google_cloud_storage, sftp, got 's3'"),
    ({"model": "t", "destination": {**S3, "bucket": None}},
     "exports[0].destination.bucket: expected a string, got NoneType None"),
    ({"model": "t", "destination": {k: v for k, v in S3.items() if k != "bucket"}},
     "exports[0].destination: missing `bucket` (required for amazon_s3)"),
    ({"model": "t", "destination": {k: v for k, v in S3.items() if k != "secret_key_env"}},
     "exports[0].destination: amazon_s3 needs its credentials by environment variable: "
     "access_key_env, secret_key_env"),
    ({"model": "t", "destination": {**S3, "secret_key_env": "wJalrXUtnFEMI/K7MDENG"}},
     "exports[0].destination.secret_key_env: expected the NAME of an environment variable, got "
     "wJa…; never put a credential in project.yml"),
    ({"model": "t", "destination": {**S3, "secret_key": "x"}},
     "exports[0].destination.secret_key: unknown key (did you mean 'secret_key_env'?) "
     "(allowed: access_key_env, bucket, path, secret_key_env)"),
    ({"model": "t", "destination": {"type": "sftp", "domain": "h", "username": "u",
                                    "remote_path": "/", "password_env": "P",
                                    "ssh_key_env": "K"}},
     "exports[0].destination: sftp needs its credentials by environment variable: "
     "password_env or ssh_key_env"),
    ({"model": "t", "destination": {"type": "local", "path": "../out"}},
     "exports[0].destination.path: expected a folder relative to target/exports without '..', "
     "got '../out'"),
    ({"model": "t", "destination": S3, "format": "json", "compression": "none"},
     "exports[0].compression: JSON is only exported gzip-compressed; use `compression: gzip` or "
     "`format: parquet`"),
    ({"model": "t", "destination": S3, "format": "csv"},
     "exports[0].format: expected one of parquet, json, got 'csv'"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "hour", "interval": 5}},
     "exports[0].schedule: hourly exports run every 3, 6, 9 or 12 hours, got 5"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "day", "interval": 1,
                                                    "export_mode": "DAILY_FULL_EXPORT"}},
     "exports[0].schedule: DAILY_FULL_EXPORT is a one-time full export: it needs time unit day "
     "and interval 0"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "day", "interval": 0}},
     "exports[0].schedule: daily exports run every 1 day (0 only with export_mode "
     "DAILY_FULL_EXPORT), got 0"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "day", "interval": 1,
                                                    "export_mode": "WEEKLY"}},
     "exports[0].schedule.export_mode: expected one of DAILY_FULL_EXPORT, "
     "FIRST_FULL_THEN_INCREMENTAL, got 'WEEKLY'"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "hour", "interval": 3,
                                                    "start_time": 200, "end_time": 100}},
     "exports[0].schedule.end_time: must be after start_time"),
    ({"model": "t", "destination": S3, "schedule": {"time_unit": "hour", "interval": 3,
                                                    "start_time": "tomorrow"}},
     "exports[0].schedule.start_time: expected unix seconds or an ISO date-time such as "
     "2026-01-31T06:00:00Z, got 'tomorrow'"),
    ({"model": "t", "destination": {"type": "local"}, "schedule": {"time_unit": "day",
                                                                   "interval": 1}},
     "exports[0].schedule: a local export runs with every build and takes no schedule; "
     "remove it"),
    ({"model": "t", "destination": S3, "wait": {"run_timeout": -1}},
     "exports[0].wait.run_timeout: expected a number >= 0, got -1"),
    ({"model": "t", "destination": S3, "targets": "prod"},
     "exports[0].targets: expected a list of target names, got str 'prod'"),
])
def test_invalid_entries_name_the_key(entry: dict, message: str) -> None:
    with pytest.raises(ProjectError) as err:
        parse_exports([entry])
    assert err.value.path == "project.yml"
    assert err.value.message == message


def test_same_model_and_name_twice_is_refused() -> None:
    with pytest.raises(ProjectError) as err:
        parse_exports([{"model": "t", "destination": S3}, {"model": "T", "destination": S3}])
    assert str(err.value) == ("project.yml: exports[1]: model 't' is already exported as "
                              "'amazon_s3' by exports[0]; give one of them a distinct `name:`")


def test_config_hash_ignores_wait_but_not_destination() -> None:
    base = one()
    assert one(wait={"poll_interval": 1}).config_hash() == base.config_hash()
    assert one(format="json").config_hash() != base.config_hash()
