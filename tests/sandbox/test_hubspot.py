"""HubSpot emulator over real HTTP with requests."""

from __future__ import annotations

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
    inputs = [{"id": "acct-001", "idProperty": "product_account_id",
               "properties": {"health_score": 82, "is_at_risk": False, "domain": ""}},
              {"id": "acct-900", "idProperty": "product_account_id", "properties": {"name": "New Co"}}]
    response = hs.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs})
    assert response.status_code == 200
    results = {r["properties"]["product_account_id"]: r for r in response.json()["results"]}
    assert results["acct-001"]["new"] is False and results["acct-001"]["id"] == "101"
    assert results["acct-900"]["new"] is True
    # Values are strings on the wire; an empty string clears the property.
    assert results["acct-001"]["properties"]["health_score"] == "82"
    assert results["acct-001"]["properties"]["is_at_risk"] == "false"
    company = hs.get("/crm/v3/objects/companies/101", params={"properties": "domain,health_score"}).json()
    assert company["properties"]["domain"] is None and company["properties"]["health_score"] == "82"
    assert company["updatedAt"] > "2026-11-05T12:00:00"  # bumped to the sandbox's now
    again = hs.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs}).json()
    assert all(r["new"] is False for r in again["results"])
    assert hs.get("/crm/v3/objects/companies", params={"limit": 100}).json()["results"][-1]["id"] == \
        results["acct-900"]["id"]
    assert [w["operation"] for w in sandbox.writes("hubspot", "companies")] == ["upsert", "upsert"]


def test_batch_update_partial_failure_is_207_naming_the_failed_inputs(sandbox, hs):
    sandbox.add_fault(route="batch/update", partial_failures=["102"])
    inputs = [{"id": str(i), "properties": {"health_score": "50"}} for i in (101, 102, 103, 999)]
    response = hs.post("/crm/v3/objects/companies/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 2 and sorted(r["id"] for r in body["results"]) == ["101", "103"]
    failed = {e["category"]: e["context"]["ids"] for e in body["errors"]}
    assert failed == {"VALIDATION_ERROR": ["102"], "OBJECT_NOT_FOUND": ["999"]}
    got = hs.post("/crm/v3/objects/companies/batch/read", json={
        "inputs": [{"id": "101"}, {"id": "102"}], "properties": ["health_score"]}).json()
    assert {r["id"]: r["properties"]["health_score"] for r in got["results"]} == {"101": "50", "102": None}


def test_batch_limits_and_validation(hs):
    too_many = [{"id": str(i), "properties": {"x": "1"}} for i in range(101)]
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
