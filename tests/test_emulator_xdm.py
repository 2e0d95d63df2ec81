"""The emulated Schema Registry's standard XDM classes and field groups (``aep_emulator.xdm``):
Spark types by Adobe's XDM mapping, batch rows checked to the leaf, datasets that keep the XDM
shape, and schemas refused for an unknown or misplaced standard field group."""

from __future__ import annotations

import pyarrow as pa
import pytest

from aep_emulator import Emulator
from aep_emulator.xdm import Mismatch, check_value, spark_type, standard
from emulator_fixtures import engine_rows, fast_client
from runner.errors import PlatformError, RunError
from runner.platform.ingest import ingest_table
from runner.platform.labels import apply_labels, read_labels
from runner.platform.schemas import ensure_dataset
from runner.sources import xdm

TENANT = "_emu0000000000000000000001"
WEB = "https://ns.adobe.com/xdm/context/experienceevent-web"
COMMERCE = "https://ns.adobe.com/xdm/context/experienceevent-commerce"
IDENTITY_MAP = "https://ns.adobe.com/xdm/context/identitymap"
PERSON = "https://ns.adobe.com/xdm/context/profile-person-details"



def test_spark_types_of_xdm_fields_follow_adobes_mapping() -> None:
    web = standard()["fieldgroups"][WEB]["properties"]["web"]
    assert spark_type(web).startswith("struct<webPageDetails:struct<name:string,URL:string,")
    items = standard()["fieldgroups"][COMMERCE]["properties"]
    assert spark_type(items["productListItems"]) == (
        "array<struct<SKU:string,name:string,quantity:int,priceTotal:double>>")
    assert spark_type({"type": "integer"}) == "bigint"
    assert spark_type({"type": "integer", "minimum": 0, "maximum": 100}) == "tinyint"
    assert spark_type({"type": "string", "format": "date"}) == "date"


@pytest.mark.parametrize("value, message", [
    ({"birthYear": 1990, "nickname": "x"}, "field 'person.nickname' is not in the dataset's "
                                          "schema (fields of person: birthYear, gender)"),
    ({"birthYear": 40000}, "field 'person.birthYear' is 40000, outside the schema's range "
                           "[1, 32767]"),
    ({"gender": "f"}, "field 'person.gender' is 'f', not one of the schema's values"),
    ({"birthYear": True}, "field 'person.birthYear' holds a boolean; the schema's type is "
                          "integer"),
    ({"birthYear": "19x0"}, "field 'person.birthYear' is '19x0', which is not an integer"),
    ({"birthYear": "40000"}, "field 'person.birthYear' is 40000, outside the schema's range"),
    ("1990", "field 'person' holds a string; the schema's type is object"),
])
def test_a_row_value_is_checked_against_the_field_to_the_leaf(value: object,
                                                              message: str) -> None:
    person = standard()["fieldgroups"][PERSON]["properties"]["person"]
    check_value({"birthYear": 1990, "gender": "female"}, person, "person")
    with pytest.raises(Mismatch, match="^" + message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        check_value(value, person, "person")


def _profiles_dataset(emulator: Emulator):
    client = fast_client(emulator)
    setup = ensure_dataset(client, "people", {"userid": "string"}, xdm_class=xdm.PROFILE_CLASS,
                           standard=[IDENTITY_MAP, PERSON])
    return client, setup


@pytest.mark.postgres
def test_a_batch_with_a_nested_field_the_schema_lacks_fails_naming_it(
        emulator: Emulator) -> None:
    client, setup = _profiles_dataset(emulator)
    person = pa.struct([("birthYear", pa.int32()), ("nickname", pa.string())])
    bad = pa.table({"_id": ["p1"], "person": pa.array([{"birthYear": 1990, "nickname": "x"}],
                                                      person)})
    result = ingest_table(client, setup.dataset_id, bad, check=False, poll_interval=0.02,
                          timeout=30)
    assert result.status == "failed"
    assert [e.description for e in result.errors] == [
        "File 'part-00000.parquet': field 'person.nickname' is not in the dataset's schema "
        "(fields of person: birthYear, gender)"]
    good = pa.table({"_id": ["p1"], "person": pa.array([{"birthYear": 1990}],
                                                       pa.struct([("birthYear", pa.int32())])),
                     TENANT: pa.array([{"userid": "u1"}], pa.struct([("userid", pa.string())]))})
    assert ingest_table(client, setup.dataset_id, good, poll_interval=0.02, timeout=30).ok
    assert engine_rows(emulator, "SELECT _id, person::text, "
                                 f"{TENANT}::text FROM people") == [
        ("p1", '{"birthYear": 1990}', '{"userid": "u1"}')]
    with pytest.raises(RunError, match="field 'Person' is not in the dataset's schema"):
        ingest_table(client, setup.dataset_id, pa.table({"Person": [1]}), poll_interval=0.02,
                     timeout=30)


@pytest.mark.postgres
def test_the_registry_refuses_an_unknown_standard_group_or_one_for_another_class(
        emulator: Emulator) -> None:
    client = fast_client(emulator)
    with pytest.raises(PlatformError, match="unknown field group 'https://ns.adobe.com/xdm/"
                                        "context/nothing'"):
        ensure_dataset(client, "a", {"userid": "string"}, xdm_class=xdm.PROFILE_CLASS,
                       standard=["https://ns.adobe.com/xdm/context/nothing"])
    with pytest.raises(PlatformError, match="does not extend class 'https://ns.adobe.com/xdm/"
                                        "context/profile'"):
        ensure_dataset(client, "b", {"userid": "string"}, xdm_class=xdm.PROFILE_CLASS,
                       standard=[WEB])


@pytest.mark.postgres
def test_field_labels_of_a_registry_dataset_name_the_schemas_xdm_paths(
        emulator: Emulator) -> None:
    client, setup = _profiles_dataset(emulator)
    ref = {"id": setup.schema_id, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    with pytest.raises(PlatformError, match="'optionalLabels\\[0\\].option.schemaPath' "
                                        "'/properties/userid' is not a field of the dataset's "
                                        "schema \\(fields: /properties/_emu"):
        apply_labels(client, setup.dataset_id, ["C9"], {"userid": ["C9"]}, ref)
    assert apply_labels(client, setup.dataset_id, ["C9"], {f"{TENANT}.userid": ["C9"],
                                                          "person.birthYear": ["I2"]},
                        ref) == "created"
    assert read_labels(client, setup.dataset_id).fields == {
        f"{TENANT}.userid": frozenset({"C9"}), "person.birthYear": frozenset({"I2"})}


@pytest.mark.postgres
def test_an_experience_event_without_its_timestamp_fails_the_batch(emulator: Emulator) -> None:
    client = fast_client(emulator)
    setup = ensure_dataset(client, "events", {"userid": "string"}, xdm_class=xdm.EVENT_CLASS,
                           standard=[WEB])
    stamp = pa.array([None, 1_750_000_000_000_000], pa.timestamp("us", tz="UTC"))
    rows = pa.table({"_id": ["e1", "e2"], "timestamp": stamp, "eventType": ["a", "b"]})
    failed = ingest_table(client, setup.dataset_id, rows, check=False, poll_interval=0.02,
                          timeout=30)
    assert [e.description for e in failed.errors] == [
        "File 'part-00000.parquet': row 1: the required field 'timestamp' is missing"]
    without = ingest_table(client, setup.dataset_id, rows.drop_columns(["timestamp"]),
                           check=False, poll_interval=0.02, timeout=30)
    assert without.errors[0].description.endswith("row 1: the required field 'timestamp' is "
                                                  "missing")
    assert ingest_table(client, setup.dataset_id, rows.slice(1), poll_interval=0.02,
                        timeout=30).records == 1
    assert engine_rows(emulator, "SELECT _id, eventtype, web FROM events") == [("e2", "b", None)]


@pytest.mark.parametrize("value, ok", [("2026-06-30T12:00:00Z", True),
                                       ("2026-06-30T12:00:00+02:00", True),
                                       (1_750_000_000_000, True), ("30/06/2026", False),
                                       (True, False), (1.5, False)])
def test_a_date_time_is_an_iso_string_or_epoch_milliseconds(value: object, ok: bool) -> None:
    node = {"type": "string", "format": "date-time"}
    if ok:
        check_value(value, node, "at")
    else:
        with pytest.raises(Mismatch, match="^field 'at' "):
            check_value(value, node, "at")


@pytest.mark.postgres
def test_a_plain_column_for_a_struct_field_fails_the_batch(emulator: Emulator) -> None:
    client, setup = _profiles_dataset(emulator)
    result = ingest_table(client, setup.dataset_id, pa.table({"_id": ["p1"],
                                                              "person": ["not a struct"]}),
                          check=False, poll_interval=0.02, timeout=30)
    assert [e.description for e in result.errors] == [
        "File 'part-00000.parquet': field 'person' is a string column; the schema's type is "
        "object"]


@pytest.mark.postgres
def test_a_field_two_groups_define_is_refused_and_a_schema_that_differs_is_named(
        emulator: Emulator) -> None:
    client = fast_client(emulator)
    with pytest.raises(PlatformError, match="Field 'identityMap' of field group 'https://ns."
                                            "adobe.com/xdm/context/identitymap' is already "
                                            "defined by 'https://ns.adobe.com/xdm/context/"
                                            "experienceevent'"):
        ensure_dataset(client, "ev", {"userid": "string"}, xdm_class=xdm.EVENT_CLASS,
                       standard=[IDENTITY_MAP])
    ensure_dataset(client, "people", {"userid": "string"}, standard=[PERSON])
    with pytest.raises(RunError, match=r"^schema 'people' \(.+\) exists but is of the class "
                                       r"https://ns.adobe.com/xdm/context/profile, not https://"
                                       r"ns.adobe.com/xdm/context/experienceevent; "):
        ensure_dataset(client, "people", {"userid": "string"}, xdm_class=xdm.EVENT_CLASS)
    with pytest.raises(RunError, match=r"^schema 'people' \(.+\) exists without the field "
                                       r"group\(s\) https://ns.adobe.com/xdm/context/identitymap; "):
        ensure_dataset(client, "people", {"userid": "string"}, standard=[PERSON, IDENTITY_MAP])


@pytest.mark.postgres
def test_an_experience_event_schema_of_tenant_fields_keeps_the_xdm_shape(
        emulator: Emulator) -> None:
    client = fast_client(emulator)
    setup = ensure_dataset(client, "clicks", {"userid": "string"}, xdm_class=xdm.EVENT_CLASS)
    rows = pa.table({"_id": ["e1"], "timestamp": pa.array([1_750_000_000_000_000],
                                                          pa.timestamp("us", tz="UTC")),
                     TENANT: pa.array([{"userid": "u1"}], pa.struct([("userid", pa.string())]))})
    assert ingest_table(client, setup.dataset_id, rows, poll_interval=0.02, timeout=30).ok
    assert engine_rows(emulator, f"SELECT _id, {TENANT}::text FROM clicks") == [
        ("e1", '{"userid": "u1"}')]
