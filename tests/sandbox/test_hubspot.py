"""HubSpot emulator over real HTTP with requests."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


@pytest.fixture
def hs(sandbox, http):
    env = sandbox.env()
    http.headers["Authorization"] = f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"
    base = env["HUBSPOT_BASE_URL"]

    class Client:
        session = http

        def get(self, path, **kw):
            return http.get(base + path, **kw)

        def post(self, path, json=None, **kw):
            return http.post(base + path, json=json, **kw)

        def patch(self, path, json=None, **kw):
            return http.patch(base + path, json=json, **kw)

    return Client()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_wrong_token_is_401_in_hubspot_format(sandbox, http):
    response = http.get(sandbox.urls["hubspot"] + "/crm/v3/objects/companies",
                        headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] and body["message"]


def test_list_pages_with_after_and_returns_only_requested_properties(hs):
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 3, "properties": "name,product_account_id"}
        if after:
            params["after"] = after
        body = hs.get("/crm/v3/objects/companies", params=params).json()
        pages += 1
        seen += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert pages == 3 and [r["id"] for r in seen] == [str(100 + n) for n in range(1, 8)]
    assert set(seen[0]["properties"]) == {"name", "product_account_id", "createdate", "hs_lastmodifieddate",
                                          "hs_object_id"}
    assert seen[0]["createdAt"] and seen[0]["updatedAt"] and seen[0]["archived"] is False


def test_list_without_properties_gives_the_default_set(hs):
    body = hs.get("/crm/v3/objects/contacts", params={"limit": 1}).json()
    assert set(body["results"][0]["properties"]) == {"createdate", "email", "firstname", "hs_object_id",
                                                     "lastmodifieddate", "lastname"}


@pytest.mark.parametrize("value", [str(ms("2026-10-04T10:00:00")), "2026-10-04T10:00:00.000Z"])
def test_search_reads_incrementally_on_hs_lastmodifieddate(hs, value):
    request = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT",
                                              "value": value}]}],
               "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
               "properties": ["name", "hs_lastmodifieddate"], "limit": 2}
    first = hs.post("/crm/v3/objects/companies/search", json=request).json()
    assert first["total"] == 3 and [r["id"] for r in first["results"]] == ["105", "106"]
    second = hs.post("/crm/v3/objects/companies/search",
                     json={**request, "after": first["paging"]["next"]["after"]}).json()
    assert [r["id"] for r in second["results"]] == ["107"] and "paging" not in second
    gte = hs.post("/crm/v3/objects/companies/search", json={**request, "filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": value}]}]}).json()
    assert gte["total"] == 4


def test_search_stops_at_ten_thousand_results(hs):
    response = hs.post("/crm/v3/objects/companies/search", json={"limit": 100, "after": 9950})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"
    assert hs.post("/crm/v3/objects/companies/search", json={"limit": 201}).status_code == 400


def test_user_edit_then_incremental_search_sees_only_it(sandbox, hs):
    cursor = ms("2026-10-07T10:00:00")
    sandbox.mutate("hubspot/companies", "update", [{"id": "103", "properties": {"lifecyclestage": "evangelist"}}])
    body = hs.post("/crm/v3/objects/companies/search", json={
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT",
                                       "value": str(cursor)}]}],
        "properties": ["lifecyclestage"]}).json()
    assert [(r["id"], r["properties"]["lifecyclestage"]) for r in body["results"]] == [("103", "evangelist")]
    assert body["results"][0]["updatedAt"] == body["results"][0]["properties"]["hs_lastmodifieddate"]


def test_batch_upsert_creates_and_updates_by_id_property(sandbox, hs):
    # health_score is made here with the properties API; cs_is_renewal_risk comes from crm_setup.yaml.
    made = hs.post("/crm/v3/properties/companies", json={
        "name": "health_score", "label": "Health score", "type": "number", "fieldType": "number",
        "groupName": "companyinformation"})
    assert made.status_code == 201
    inputs = [{"id": "acct-001", "idProperty": "product_account_id",
               "properties": {"health_score": 82, "cs_is_renewal_risk": False, "domain": ""}},
              {"id": "acct-900", "idProperty": "product_account_id", "properties": {"name": "New Co"}}]
    response = hs.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs})
    assert response.status_code == 200
    results = {r["properties"]["product_account_id"]: r for r in response.json()["results"]}
    assert results["acct-001"]["new"] is False and results["acct-001"]["id"] == "101"
    assert results["acct-900"]["new"] is True
    # Values are strings on the wire; an empty string clears the property.
    assert results["acct-001"]["properties"]["health_score"] == "82"
    assert results["acct-001"]["properties"]["cs_is_renewal_risk"] == "false"
    company = hs.get("/crm/v3/objects/companies/101", params={"properties": "domain,health_score"}).json()
    assert company["properties"]["domain"] is None and company["properties"]["health_score"] == "82"
    assert company["updatedAt"] > "2026-11-05T12:00:00"  # bumped to the sandbox's now
    again = hs.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs}).json()
    assert all(r["new"] is False for r in again["results"])
    assert hs.get("/crm/v3/objects/companies", params={"limit": 100}).json()["results"][-1]["id"] == \
        results["acct-900"]["id"]
    assert [w["operation"] for w in sandbox.writes("hubspot", "companies")] == ["upsert", "upsert"]
    assert [w["operation"] for w in sandbox.writes("hubspot", "properties/companies")] == ["create"]


def test_batch_update_partial_failure_is_207_naming_the_failed_inputs(sandbox, hs):
    sandbox.add_fault(route="batch/update", partial_failures=["102"])
    inputs = [{"id": str(i), "properties": {"cs_usage_health_band": "red"}} for i in (101, 102, 103, 999)]
    response = hs.post("/crm/v3/objects/companies/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 2 and sorted(r["id"] for r in body["results"]) == ["101", "103"]
    failed = {e["category"]: e["context"]["ids"] for e in body["errors"]}
    assert failed == {"VALIDATION_ERROR": ["102"], "OBJECT_NOT_FOUND": ["999"]}
    got = hs.post("/crm/v3/objects/companies/batch/read", json={
        "inputs": [{"id": "101"}, {"id": "102"}], "properties": ["cs_usage_health_band"]}).json()
    assert {r["id"]: r["properties"]["cs_usage_health_band"] for r in got["results"]} == {"101": "red", "102": None}


def test_batch_limits_and_validation(hs):
    too_many = [{"id": str(i), "properties": {"name": "1"}} for i in range(101)]
    response = hs.post("/crm/v3/objects/companies/batch/update", json={"inputs": too_many})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"
    dupes = hs.post("/crm/v3/objects/contacts/batch/update",
                    json={"inputs": [{"id": "201", "properties": {}}, {"id": "201", "properties": {}}]})
    assert dupes.status_code == 400 and "Duplicate IDs" in dupes.json()["message"]
    read_only = hs.post("/crm/v3/objects/contacts/batch/update",
                        json={"inputs": [{"id": "201", "properties": {"hs_object_id": "5"}}]})
    assert read_only.status_code == 400


def test_batch_create_then_list(hs):
    response = hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "new@example.com", "firstname": "New"}}]})
    assert response.status_code == 201
    [created] = response.json()["results"]
    assert created["properties"]["email"] == "new@example.com"
    assert hs.get(f"/crm/v3/objects/contacts/{created['id']}").json()["properties"]["firstname"] == "New"


def test_email_events_page_by_offset_within_a_time_window(hs):
    start, end = ms("2026-10-02T00:00:00"), ms("2026-10-05T23:59:59")
    events, offset, calls = [], None, 0
    while True:
        params = {"startTimestamp": start, "endTimestamp": end, "limit": 2}
        if offset:
            params["offset"] = offset
        body = hs.get("/email/public/v1/events", params=params).json()
        calls += 1
        events += body["events"]
        offset = body["offset"]
        if not body["hasMore"]:
            break
    assert sorted(e["id"] for e in events) == ["evt-1", "evt-2", "evt-3", "evt-4"]
    assert calls == 2 and all(isinstance(e["created"], int) for e in events)


def test_fault_sequence_with_retry_after_is_retried_by_urllib3(sandbox, hs):
    sandbox.add_fault(route="GET /crm/v3/objects/companies$", sequence=[429, 500], retry_after=0)
    raw = hs.get("/crm/v3/objects/companies")
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "0"
    assert raw.json()["category"] == "RATE_LIMITS"
    assert hs.get("/crm/v3/objects/companies").status_code == 500
    assert hs.get("/crm/v3/objects/companies").status_code == 200

    sandbox.add_fault(route="GET /crm/v3/objects/companies$", sequence=[429, 503], retry_after=0)
    hs.session.mount("http://", HTTPAdapter(max_retries=Retry(
        total=3, status_forcelist=(429, 500, 503), backoff_factor=0, respect_retry_after_header=True)))
    assert hs.get("/crm/v3/objects/companies").status_code == 200
    assert sandbox.calls("hubspot")["routes"]["GET /crm/v3/objects/companies"] == 6


def test_rate_limit_headers(hs):
    response = hs.get("/crm/v3/objects/companies")
    assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert int(response.headers["X-HubSpot-RateLimit-Remaining"]) < 190
    assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


# --------------------------------------------------------------------------- properties API

def test_properties_list_default_and_crm_setup_properties(hs):
    body = hs.get("/crm/v3/properties/companies").json()
    by_name = {p["name"]: p for p in body["results"]}
    # HubSpot's own properties the sandbox serves, and crm_setup.yaml's custom ones.
    assert {"name", "domain", "lifecyclestage", "createdate", "hs_lastmodifieddate", "hs_object_id",
            "product_account_id", "cs_usage_health_band", "cs_is_renewal_risk"} <= set(by_name)
    for prop in body["results"]:
        assert {"name", "label", "type", "fieldType", "groupName", "description", "hasUniqueValue", "hidden",
                "calculated", "externalOptions", "formField", "modificationMetadata", "options"} <= set(prop)
        assert set(prop["modificationMetadata"]) >= {"archivable", "readOnlyDefinition", "readOnlyValue"}
    assert by_name["product_account_id"]["hasUniqueValue"] is True
    assert by_name["product_account_id"]["type"] == "string" and by_name["product_account_id"]["fieldType"] == "text"
    assert by_name["cs_is_renewal_risk"]["type"] == "bool"
    assert by_name["cs_is_renewal_risk"]["fieldType"] == "booleancheckbox"
    assert [o["value"] for o in by_name["cs_is_renewal_risk"]["options"]] == ["true", "false"]
    for name in ("hs_object_id", "createdate", "hs_lastmodifieddate"):
        assert by_name[name]["modificationMetadata"]["readOnlyValue"] is True, name
    assert by_name["name"]["modificationMetadata"]["readOnlyValue"] is False
    assert by_name["name"]["hasUniqueValue"] is False
    contacts = {p["name"] for p in hs.get("/crm/v3/properties/contacts").json()["results"]}
    assert {"email", "firstname", "lastname", "jobtitle", "associatedcompanyid", "lastmodifieddate"} <= contacts
    assert "product_account_id" not in contacts


def test_get_one_property_and_404(hs):
    prop = hs.get("/crm/v3/properties/contacts/email").json()
    assert prop["name"] == "email" and prop["type"] == "string"
    missing = hs.get("/crm/v3/properties/contacts/no_such_property")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    unknown_object = hs.get("/crm/v3/properties/widgets")
    assert unknown_object.status_code == 400 and unknown_object.json()["category"] == "VALIDATION_ERROR"


def test_create_property_then_write_it(hs):
    definition = {"name": "cs_tier", "label": "CS tier", "type": "enumeration", "fieldType": "select",
                  "groupName": "companyinformation",
                  "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}]}
    made = hs.post("/crm/v3/properties/companies", json=definition)
    assert made.status_code == 201
    body = made.json()
    assert body["name"] == "cs_tier" and [o["value"] for o in body["options"]] == ["gold", "silver"]
    assert body["modificationMetadata"] == {"archivable": True, "readOnlyDefinition": False,
                                            "readOnlyValue": False, "readOnlyOptions": False}
    assert hs.get("/crm/v3/properties/companies/cs_tier").json()["label"] == "CS tier"
    again = hs.post("/crm/v3/properties/companies", json=definition)
    assert again.status_code == 409 and again.json()["category"] == "CONFLICT"
    written = hs.patch("/crm/v3/objects/companies/101", json={"properties": {"cs_tier": "gold"}})
    assert written.status_code == 200 and written.json()["properties"]["cs_tier"] == "gold"


@pytest.mark.parametrize("type_,field_type", [
    ("string", "text"), ("string", "textarea"), ("number", "number"), ("bool", "booleancheckbox"),
    ("enumeration", "select"), ("enumeration", "radio"), ("enumeration", "checkbox"), ("date", "date"),
    ("datetime", "date"), ("dateTime", "date")])
def test_create_property_accepts_documented_type_field_type_pairs(hs, type_, field_type):
    response = hs.post("/crm/v3/properties/contacts", json={
        "name": "cs_probe", "label": "Probe", "type": type_, "fieldType": field_type,
        "groupName": "contactinformation"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("change", [
    {"type": "number", "fieldType": "text"},  # fieldType does not suit the type
    {"type": "bool", "fieldType": "select"},
    {"type": "string", "fieldType": "number"},
    {"type": "datetime", "fieldType": "text"},
    {"type": "money"},  # no such type
    {"groupName": "nosuchgroup"},
    {"name": "Has Caps"},
    {"name": "hs_reserved"},
    {"label": None},  # required fields
    {"fieldType": None},
    {"groupName": None},
    {"hasUniqueValue": "yes"},
    {"type": "bool", "fieldType": "booleancheckbox", "hasUniqueValue": True},  # only text / number are unique
])
def test_create_property_refuses_bad_definitions(hs, change):
    definition = {"name": "cs_probe", "label": "Probe", "type": "string", "fieldType": "text",
                  "groupName": "companyinformation"}
    definition = {k: v for k, v in {**definition, **change}.items() if v is not None}
    response = hs.post("/crm/v3/properties/companies", json=definition)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR" and body["errors"]
    assert hs.get("/crm/v3/properties/companies/cs_probe").status_code == 404


# --------------------------------------------------------------------------- unknown properties

def _assert_property_doesnt_exist(response, name):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert f'Property \\"{name}\\" does not exist' in body["message"]  # JSON-quoted inside the message
    assert {"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": [name]}} in body["errors"]


@pytest.mark.parametrize("path,body", [
    ("/crm/v3/objects/companies/batch/create", {"inputs": [
        {"properties": {"name": "Fine Co"}}, {"properties": {"name": "Bad Co", "health_score": "1"}}]}),
    ("/crm/v3/objects/companies/batch/update", {"inputs": [
        {"id": "101", "properties": {"name": "Renamed"}}, {"id": "102", "properties": {"health_score": "1"}}]}),
    ("/crm/v3/objects/companies/batch/upsert", {"inputs": [
        {"id": "acct-001", "idProperty": "product_account_id", "properties": {"name": "Renamed"}},
        {"id": "acct-002", "idProperty": "product_account_id", "properties": {"health_score": "1"}}]}),
    ("/crm/v3/objects/companies", {"properties": {"name": "Bad Co", "health_score": "1"}}),
])
def test_a_write_naming_an_unknown_property_fails_as_a_whole(sandbox, hs, path, body):
    before = {r["id"]: r["properties"].get("name") for r in sandbox.records("hubspot/companies")}
    _assert_property_doesnt_exist(hs.post(path, json=body), "health_score")
    after = {r["id"]: r["properties"].get("name") for r in sandbox.records("hubspot/companies")}
    assert after == before and sandbox.writes("hubspot", "companies") == []


def test_patch_with_an_unknown_property_is_refused(sandbox, hs):
    response = hs.patch("/crm/v3/objects/contacts/201", json={"properties": {"firstname": "X", "shoe_size": 9}})
    _assert_property_doesnt_exist(response, "shoe_size")
    assert sandbox.records("hubspot/contacts", "201")[0]["properties"]["firstname"] == "Pat"


def test_reading_unknown_properties_just_leaves_them_out(hs):
    got = hs.get("/crm/v3/objects/companies/101", params={"properties": "name,no_such_thing,cs_tier"}).json()
    assert set(got["properties"]) == {"name", "createdate", "hs_lastmodifieddate", "hs_object_id"}
    listed = hs.get("/crm/v3/objects/companies", params={"limit": 1, "properties": "nope"}).json()
    assert "nope" not in listed["results"][0]["properties"]
    read = hs.post("/crm/v3/objects/companies/batch/read", json={
        "inputs": [{"id": "101"}], "properties": ["name", "nope"]}).json()
    assert set(read["results"][0]["properties"]) == {"name", "createdate", "hs_lastmodifieddate", "hs_object_id"}


# --------------------------------------------------------------------------- idProperty and unique values

@pytest.mark.parametrize("path,body", [
    ("/crm/v3/objects/companies/batch/upsert",
     {"inputs": [{"id": "Company 1", "idProperty": "name", "properties": {"domain": "x.example.com"}}]}),
    ("/crm/v3/objects/companies/batch/update",
     {"inputs": [{"id": "Company 1", "idProperty": "name", "properties": {"domain": "x.example.com"}}]}),
    ("/crm/v3/objects/companies/batch/read", {"idProperty": "domain", "inputs": [{"id": "c1.example.com"}]}),
    ("/crm/v3/objects/contacts/batch/upsert",
     {"inputs": [{"id": "Doe1", "idProperty": "lastname", "properties": {"jobtitle": "CEO"}}]}),
    # The record id goes in `id` without idProperty: HubSpot refuses hs_object_id as one here.
    ("/crm/v3/objects/companies/batch/update",
     {"inputs": [{"id": "101", "idProperty": "hs_object_id", "properties": {"name": "X"}}]}),
    ("/crm/v3/objects/companies/batch/upsert",
     {"inputs": [{"id": "101", "idProperty": "hs_object_id", "properties": {"name": "X"}}]}),
])
def test_id_property_must_be_a_unique_property(sandbox, hs, path, body):
    response = hs.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["category"] == "VALIDATION_ERROR" and "non-unique" in error["message"]
    assert sandbox.writes("hubspot") == []


def test_single_calls_by_non_unique_id_property_are_refused(hs):
    got = hs.get("/crm/v3/objects/companies/Company 1", params={"idProperty": "name"})
    assert got.status_code == 400 and "non-unique" in got.json()["message"]
    patched = hs.patch("/crm/v3/objects/companies/Company 1", params={"idProperty": "name"},
                       json={"properties": {"domain": "x.example.com"}})
    assert patched.status_code == 400 and "non-unique" in patched.json()["message"]
    # Unique ones and hs_object_id (the default) are fine.
    assert hs.get("/crm/v3/objects/companies/acct-002", params={"idProperty": "product_account_id"}).json()["id"] \
        == "102"
    assert hs.get("/crm/v3/objects/companies/102", params={"idProperty": "hs_object_id"}).json()["id"] == "102"
    read = hs.post("/crm/v3/objects/companies/batch/read", json={"idProperty": "hs_object_id",
                                                                 "inputs": [{"id": "102"}]})
    assert read.status_code == 200 and read.json()["results"][0]["id"] == "102"


def test_a_unique_property_refuses_a_second_record_with_the_same_value(sandbox, hs):
    # batch/update: 102 may not take 101's product_account_id; the other input goes through.
    response = hs.post("/crm/v3/objects/companies/batch/update", json={"inputs": [
        {"id": "102", "properties": {"product_account_id": "acct-001"}},
        {"id": "103", "properties": {"name": "Renamed 3"}}]})
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["103"] and body["numErrors"] == 1
    [error] = body["errors"]
    assert error["category"] == "CONFLICT" and error["context"]["ids"] == ["102"]
    assert "Existing ID: 101" in error["message"]
    assert sandbox.records("hubspot/companies", "102")[0]["properties"]["product_account_id"] == "acct-002"
    # batch/create: the taken value, and the same new value twice in one call.
    created = hs.post("/crm/v3/objects/companies/batch/create", json={"inputs": [
        {"objectWriteTraceId": "t1", "properties": {"name": "Dup", "product_account_id": "acct-003"}},
        {"objectWriteTraceId": "t2", "properties": {"name": "New", "product_account_id": "acct-950"}},
        {"objectWriteTraceId": "t3", "properties": {"name": "New again", "product_account_id": "acct-950"}}]})
    assert created.status_code == 207
    assert sorted(i for e in created.json()["errors"] for i in e["context"]["ids"]) == ["t1", "t3"]
    assert [r["properties"]["name"] for r in created.json()["results"]] == ["New"]
    # Single PATCH and single create: 409.
    patched = hs.patch("/crm/v3/objects/companies/104", json={"properties": {"product_account_id": "acct-005"}})
    assert patched.status_code == 409 and patched.json()["category"] == "CONFLICT"
    single = hs.post("/crm/v3/objects/companies", json={"properties": {"product_account_id": "acct-005"}})
    assert single.status_code == 409
    # Setting a record's own value again is no conflict.
    same = hs.patch("/crm/v3/objects/companies/105", json={"properties": {"product_account_id": "acct-005"}})
    assert same.status_code == 200


def test_contacts_email_is_unique_and_can_be_the_id_property(hs):
    upsert = hs.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "p1@c1.example.com", "idProperty": "email", "properties": {"jobtitle": "CEO"}},
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}}]})
    assert upsert.status_code == 200, upsert.text
    by_email = {r["properties"]["email"]: r for r in upsert.json()["results"]}
    assert by_email["p1@c1.example.com"]["id"] == "201" and by_email["p1@c1.example.com"]["new"] is False
    assert by_email["fresh@example.com"]["new"] is True
    dup = hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"objectWriteTraceId": "x", "properties": {"email": "p2@c2.example.com"}}]})
    assert dup.status_code == 207 and dup.json()["errors"][0]["category"] == "CONFLICT"


# --------------------------------------------------------------------------- e-mail addresses

def test_emails_are_stored_lower_case_and_looked_up_case_insensitively(sandbox, hs):
    created = hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "Mixed.Case@Example.COM", "firstname": "Mixed"}}]})
    assert created.status_code == 201
    [row] = created.json()["results"]
    assert row["properties"]["email"] == "mixed.case@example.com"
    got = hs.get("/crm/v3/objects/contacts/MIXED.CASE@example.com", params={"idProperty": "email",
                                                                            "properties": "email,firstname"})
    assert got.status_code == 200 and got.json()["id"] == row["id"]
    assert got.json()["properties"]["email"] == "mixed.case@example.com"
    upsert = hs.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "P1@C1.Example.com", "idProperty": "email", "properties": {"firstname": "Patricia"}}]})
    [result] = upsert.json()["results"]
    assert result["id"] == "201" and result["new"] is False and result["properties"]["email"] == "p1@c1.example.com"
    read = hs.post("/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "inputs": [{"id": "P2@C2.EXAMPLE.COM"}], "properties": ["email"]}).json()
    assert [r["id"] for r in read["results"]] == ["202"]
    patched = hs.patch("/crm/v3/objects/contacts/203", json={"properties": {"email": "NEW.Three@Example.com"}})
    assert patched.json()["properties"]["email"] == "new.three@example.com"
    # Different case is the same address: a second contact cannot take it.
    clash = hs.post("/crm/v3/objects/contacts", json={"properties": {"email": "Mixed.CASE@example.com"}})
    assert clash.status_code == 409
    sandbox.mutate("hubspot/contacts", "update", [{"id": "202", "properties": {"email": "Edited@Example.com"}}])
    assert sandbox.records("hubspot/contacts", "202")[0]["properties"]["email"] == "edited@example.com"


# --------------------------------------------------------------------------- options: crm_setup, daily limit

@pytest.fixture
def small_sandbox(tmp_path):
    """A second sandbox with its own options: upper-case emails in its data file, a
    custom crm_setup.yaml and a daily limit of 5 calls."""
    from devkit.sandbox import Sandbox

    data = tmp_path / "data"
    (data / "hubspot").mkdir(parents=True)
    (data / "hubspot" / "contacts.jsonl").write_text(json.dumps(
        {"id": "301", "properties": {"email": "Upper@Example.COM", "firstname": "Up"},
         "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-02T00:00:00.000Z"}) + "\n")
    setup = tmp_path / "crm_setup.yaml"
    setup.write_text("hubspot:\n  contacts:\n    external_key: {type: string, hasUniqueValue: true}\n")
    with Sandbox(data, state_dir=tmp_path / "state", hubspot_daily_limit=5, crm_setup=setup) as sandbox:
        yield sandbox


def test_options_crm_setup_daily_limit_and_loaded_emails(small_sandbox, http):
    env = small_sandbox.env()
    base, auth = env["HUBSPOT_BASE_URL"], {"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"}
    names = {p["name"] for p in http.get(base + "/crm/v3/properties/contacts", headers=auth).json()["results"]}
    assert "external_key" in names
    assert http.get(base + "/crm/v3/properties/companies/product_account_id", headers=auth).status_code == 404
    got = http.get(base + "/crm/v3/objects/contacts/UPPER@example.com", headers=auth,
                   params={"idProperty": "email", "properties": "email"})
    assert got.status_code == 200 and got.json()["properties"]["email"] == "upper@example.com"
    fourth = http.get(base + "/crm/v3/objects/contacts", headers=auth)  # the 4th call of the day
    assert fourth.headers["X-HubSpot-RateLimit-Daily"] == "5"
    assert fourth.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert http.get(base + "/crm/v3/objects/contacts", headers=auth).status_code == 200  # the 5th: the last
    over = http.get(base + "/crm/v3/objects/contacts", headers=auth)
    assert over.status_code == 429
    body = over.json()
    assert body["policyName"] == "DAILY" and body["category"] == "RATE_LIMITS"
    assert body["message"] == "You have reached your daily limit."
    assert over.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    small_sandbox.reset()  # a new day
    assert http.get(base + "/crm/v3/objects/contacts", headers=auth).status_code == 200
