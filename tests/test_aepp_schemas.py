"""The emulated Schema Registry and Catalog dataset creation proven by the real client: aepp 0.6.0
makes a Profile score dataset the way CMLE's Week 4 notebook does (ingest contract §2), and the
runner's ``ensure_profile_dataset`` then finds all of it and creates nothing.

The ``aepp`` fixture (aepp configured for the emulator, loopback only) is test_aepp's. aepp never
raises on an HTTP error (contract §1.5): a refusal is checked in the body it returns.
"""

from __future__ import annotations

from typing import Any

import pytest

from aep_emulator import Emulator
from runner.platform.client import PlatformClient
from runner.platform.schemas import ensure_profile_dataset
from test_aepp import aepp, loopback_only  # noqa: F401  (the fixtures)

pytestmark = pytest.mark.postgres
PROFILE = "https://ns.adobe.com/xdm/context/profile"


def cmle_fieldgroup(tenant: str, title: str) -> dict[str, Any]:
    """The field group body of CMLE Week 4 (ingest contract §2.2), verbatim in shape."""
    return {"type": "object", "title": title, "description": "Propensity scores",
            "allOf": [{"$ref": "#/definitions/customFields"}], "meta:containerId": "tenant",
            "meta:resourceType": "mixins", "meta:xdmType": "object",
            "definitions": {"customFields": {"type": "object", "properties": {f"_{tenant}": {
                "type": "object", "properties": {
                    "propensity": {"title": "Propensity", "type": "number"},
                    "userid": {"title": "User ID", "type": "string"}}}}}},
            "meta:intendedToExtend": [PROFILE]}


def test_aepp_makes_the_setup_and_the_runner_finds_it(aepp: Any, emulator: Emulator,  # noqa: F811
                                                      platform_client: PlatformClient) -> None:
    from aepp import catalog, schema

    sch = schema.Schema()
    tenant = sch.getTenantId()
    assert tenant == emulator.org_id.split("@")[0].lower()
    group = sch.createFieldGroup(cmle_fieldgroup(tenant, "scores fields"))
    assert group["$id"].startswith(f"https://ns.adobe.com/{tenant}/mixins/")
    made = sch.createProfileSchema("scores", [group["$id"]], "Propensity scores")
    assert (made["meta:class"], made["meta:extends"]) == (PROFILE, [PROFILE, group["$id"]])

    refused = sch.enableSchemaForRealTime(made["$id"])  # no primary identity yet
    assert (refused["status"], refused["title"]) == (400, "BadRequestError")
    assert refused["detail"].startswith("In order to enable a schema for Profile, it must have")
    identity = sch.createDescriptor(sourceSchema=made["$id"], sourceProperty=f"/_{tenant}/userid",
                                    namespace="ECID", primary=True,
                                    **{"xdm:property": "xdm:id"})
    assert identity["xdm:isPrimary"] is True and "@id" in identity
    assert sch.enableSchemaForRealTime(made["$id"])["meta:immutableTags"] == ["union"]

    assert [s["title"] for s in sch.getSchemas()] == ["scores"]  # property=meta:extends!=adhoc
    assert sch.getSchema(made["$id"])["meta:altId"] == made["meta:altId"]  # xdm-full; version=1
    assert [g["title"] for g in sch.getFieldGroups()] == ["scores fields"]  # Accept xdm+json
    listed = sch.getDescriptors(type_desc="xdm:descriptorIdentity",
                                prop=f"xdm:sourceSchema=={made['$id']}")  # xdm-v2, two filters
    assert [d["@id"] for d in listed] == [identity["@id"]]

    cat = catalog.Catalog()
    answer = cat.createDataSet(name="scores", schemaId=made["$id"], profileEnabled=True,
                               identityEnabled=True)
    (ref,) = answer
    dataset_id = ref.removeprefix("@/dataSets/")
    assert emulator.dataset(dataset_id)["tags"] == {"unifiedProfile": ["enabled:true"],
                                                   "unifiedIdentity": ["enabled:true"],
                                                   "adobe/pqs/table": ["scores"]}  # its table

    emulator.requests.clear()
    found = ensure_profile_dataset(platform_client, "scores", {"propensity": "double"}, "userid")
    assert (found.created, found.dataset_id, found.schema_id) == ((), dataset_id, made["$id"])
    assert {r.method for r in emulator.requests if not r.path.startswith("/ims/")} == {"GET"}


def test_aepp_upsert_tags_with_spaces_still_need_a_union_schema(
        aepp: Any, emulator: Emulator) -> None:  # noqa: F811
    from aepp import catalog, schema

    sch = schema.Schema()
    group = sch.createFieldGroup(cmle_fieldgroup(sch.getTenantId(), "g"))
    made = sch.createProfileSchema("plain", [group["$id"]])
    # aepp's createDataSet(upsert=True) writes "enabled: true" with a space (contract-ingest §2.6)
    refused = catalog.Catalog().createDataSet(name="d", schemaId=made["$id"], upsert=True)
    assert (refused["status"], refused["detail"]) == (
        400, "A dataset can be enabled for Profile only when its schema is: add "
        "meta:immutableTags [\"union\"] to the schema first")
