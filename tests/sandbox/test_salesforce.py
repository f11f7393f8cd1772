"""Salesforce emulator through simple-salesforce and requests over real TLS sockets."""

from __future__ import annotations

import csv
import io
import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from devkit.sandbox import Sandbox

from .conftest import NOW, SF_VERSION, salesforce_client, sf_id

ACCOUNT_UPSERT = "composite/sobjects/Account/Product_Account_Id__c"


def _error_code(exc) -> str:
    return exc.value.content[0]["errorCode"]


# ---------------------------------------------------------------- auth

def test_token_requires_the_sandbox_client_credentials(sandbox, sf_session):
    env = sandbox.env()
    url = f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token"
    bad = sf_session.post(url, data={"grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
                                     "client_secret": "wrong"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}

    good = sf_session.post(url, data={"grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
                                      "client_secret": env["SALESFORCE_CLIENT_SECRET"]}).json()
    assert good["instance_url"] == sandbox.urls["salesforce"]
    assert good["token_type"] == "Bearer"


def test_a_bad_session_gets_invalid_session_id(sandbox, sf_session):
    response = sf_session.get(f"{sandbox.urls['salesforce']}/services/data/v{SF_VERSION}/query",
                              params={"q": "SELECT Id FROM Account"}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_a_system_trust_store_does_not_trust_the_sandbox(sandbox):
    session = requests.Session()
    session.trust_env = False  # system CAs only
    with pytest.raises(requests.exceptions.SSLError):
        session.post(f"{sandbox.urls['salesforce']}/services/oauth2/token")


# ---------------------------------------------------------------- SOQL

def test_query_all_pages_through_next_records_url(sandbox, sf):
    result = sf.query_all("SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    assert [r["Name"] for r in result["records"]] == [f"Account {n}" for n in range(1, 7)]
    first = result["records"][0]
    assert first["attributes"] == {"type": "Account",
                                   "url": f"/services/data/v{SF_VERSION}/sobjects/Account/{sf_id('001', 1)}"}
    routes = sandbox.calls("salesforce")["routes"]
    assert routes["GET /query"] == 1 and routes["GET /query/<locator>"] == 1  # page size 3
    assert sf.api_usage["api-usage"].used == 2


def test_first_page_shape(sf):
    page = sf.query("SELECT Id FROM Account")
    assert page["totalSize"] == 6 and page["done"] is False and len(page["records"]) == 3
    assert page["nextRecordsUrl"].startswith(f"/services/data/v{SF_VERSION}/query/01g")
    assert page["nextRecordsUrl"].endswith("-3")


def test_query_all_iter_and_query_all_include_deleted(sf):
    live = list(sf.query_all_iter("SELECT Id, IsDeleted FROM Account"))
    everything = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)["records"]
    assert len(live) == 6 and not any(r["IsDeleted"] for r in live)
    assert len(everything) == 7
    assert [r["Id"] for r in everything if r["IsDeleted"]] == [sf_id("001", 7)]


@pytest.mark.parametrize("literal", ["2026-10-04T10:00:00.000+0000", "2026-10-04T10:00:00Z",
                                     "2026-10-04T19:00:00.000+09:00"])
def test_incremental_filter_on_system_modstamp(sf, literal):
    result = sf.query_all(f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {literal} "
                          "ORDER BY SystemModstamp, Id")
    assert [r["Id"] for r in result["records"]] == [sf_id("001", 5), sf_id("001", 6)]


def test_where_and_or_in_like_limit_offset(sf):
    records = sf.query_all(
        "SELECT Id, Name FROM Account WHERE (Product_Account_Id__c IN ('acct-001', 'acct-002', 'acct-003') "
        "OR Name LIKE 'account 6') AND NumberOfEmployees >= 20 ORDER BY Name DESC LIMIT 2 OFFSET 1")["records"]
    assert [r["Name"] for r in records] == ["Account 3", "Account 2"]
    assert sf.query("SELECT COUNT() FROM Account WHERE Industry = 'software'")["totalSize"] == 6
    escaped = sf.query("SELECT Id FROM Account WHERE Name = 'O\\'Brien'")
    assert escaped["totalSize"] == 0


def test_unknown_field_is_invalid_field(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id, Bogus__c FROM Account")
    assert _error_code(exc) == "INVALID_FIELD"
    assert "No such column 'Bogus__c' on entity 'Account'" in exc.value.content[0]["message"]


def test_unknown_object_quoted_datetime_and_syntax_errors(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Widget")
    assert _error_code(exc) == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Account WHERE SystemModstamp > '2026-10-01T00:00:00Z'")
    assert _error_code(exc) == "INVALID_QUERY_FILTER_OPERATOR"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Account WHERE")
    assert _error_code(exc) == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more("01gNOTALOCATOR-3")
    assert _error_code(exc) == "INVALID_QUERY_LOCATOR"


def test_user_edit_then_incremental_read_sees_only_that_row(sandbox, sf):
    rows = sf.query_all("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")["records"]
    cursor = rows[0]["SystemModstamp"]
    sandbox.mutate("salesforce/Account", "update", [{"Id": sf_id("001", 2), "Industry": "Retail"}])
    changed = sf.query_all(f"SELECT Id, Industry, SystemModstamp FROM Account WHERE SystemModstamp > {cursor}")
    assert [(r["Id"], r["Industry"]) for r in changed["records"]] == [(sf_id("001", 2), "Retail")]
    assert changed["records"][0]["SystemModstamp"] > cursor


def test_deleted_row_leaves_query_and_shows_in_query_all(sandbox, sf):
    sandbox.mutate("salesforce/Account", "delete", [{"Id": sf_id("001", 3)}])
    cursor = "2026-10-07T10:00:00.000+0000"
    soql = f"SELECT Id, IsDeleted FROM Account WHERE SystemModstamp > {cursor}"
    assert sf.query_all(soql)["records"] == []
    deleted = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(sf_id("001", 3), True)]


def test_api_limit_is_enforced_and_reported(sample_dir, tmp_path):
    with Sandbox(sample_dir, state_dir=tmp_path, salesforce_api_limit=2, now=lambda: NOW) as small:
        session = requests.Session()
        session.trust_env, session.verify = False, str(small.ca_path)
        sf = salesforce_client(small, session)
        sf.query("SELECT Id FROM User")
        sf.query("SELECT Id FROM User")
        assert sf.api_usage["api-usage"].used == 2
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM User")
        assert _error_code(exc) == "REQUEST_LIMIT_EXCEEDED"


# ---------------------------------------------------------------- sObject Collections

def test_collections_upsert_creates_then_updates(sandbox, sf):
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "Usage_Health_Score__c": 81},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-100", "Name": "New Co",
         "Usage_Health_Score__c": 40}]}
    first = sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)
    assert [(r["success"], r["created"], r["errors"]) for r in first] == [(True, False, []), (True, True, [])]
    assert first[0]["id"] == sf_id("001", 1)
    new_id = first[1]["id"]
    assert new_id.startswith("001") and len(new_id) == 18

    second = sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)
    assert [(r["id"], r["created"]) for r in second] == [(sf_id("001", 1), False), (new_id, False)]

    rows = sf.query_all("SELECT Id, Name, Usage_Health_Score__c, OwnerId FROM Account "
                        "WHERE Product_Account_Id__c IN ('acct-001', 'acct-100') ORDER BY Name")["records"]
    assert [(r["Name"], r["Usage_Health_Score__c"]) for r in rows] == [("Account 1", 81.0), ("New Co", 40.0)]
    routes = sandbox.calls("salesforce")["routes"]
    assert routes["PATCH /composite/sobjects/Account/Product_Account_Id__c"] == 2
    writes = sandbox.writes("salesforce", "Account")
    assert [w["operation"] for w in writes] == ["upsert", "upsert"]
    assert writes[0]["records"] == body["records"]


def test_collections_upsert_validates_per_record(sf):
    records = [
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-101"},  # Name missing
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-002", "Name": None},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-003", "SystemModstamp": "x"},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-004", "OwnerId": sf_id("005", 99)},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-005", "Name": "Renamed"},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-006", "Name": "A"},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-006", "Name": "B"},
    ]
    results = sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"allOrNone": False, "records": records})
    codes = [r["errors"][0]["statusCode"] if r["errors"] else "ok" for r in results]
    assert codes == ["REQUIRED_FIELD_MISSING", "REQUIRED_FIELD_MISSING", "INVALID_FIELD_FOR_INSERT_UPDATE",
                     "INVALID_CROSS_REFERENCE_KEY", "ok", "DUPLICATE_VALUE", "DUPLICATE_VALUE"]
    assert results[0]["errors"][0]["fields"] == ["Name"]


def test_collections_all_or_none_rolls_back(sf):
    records = [{"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "Name": "Changed"},
               {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-200"}]
    results = sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["errors"][0]["statusCode"] for r in results] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                                               "REQUIRED_FIELD_MISSING"]
    assert sf.query("SELECT Name FROM Account WHERE Product_Account_Id__c = 'acct-001'")["records"][0]["Name"] \
        == "Account 1"


def test_collections_reject_more_than_200_records_and_bad_json_types(sf):
    records = [{"attributes": {"type": "Account"}, "Product_Account_Id__c": f"x-{i}", "Name": "n"}
               for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"records": records})
    assert _error_code(exc) == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"records": [
            {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "NumberOfEmployees": "many"}]})
    assert _error_code(exc) == "JSON_PARSER_ERROR"


def test_collections_partial_failure_fault(sandbox, sf):
    sandbox.add_fault(route="composite/sobjects", partial_failures=["acct-002"])
    records = [{"attributes": {"type": "Account"}, "Product_Account_Id__c": f"acct-00{n}",
                "Usage_Health_Score__c": n} for n in (1, 2, 3)]
    results = sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    scores = {r["Product_Account_Id__c"]: r["Usage_Health_Score__c"] for r in sf.query_all(
        "SELECT Product_Account_Id__c, Usage_Health_Score__c FROM Account")["records"]}
    assert scores["acct-001"] == 1 and scores["acct-002"] is None and scores["acct-003"] == 3


def test_collections_insert_and_update_by_id(sandbox, sf):
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Task"}, "Subject": "Check in", "WhatId": sf_id("001", 2),
         "OwnerId": sf_id("005", 1), "ActivityDate": "2026-11-10", "CS_External_Id__c": "play-1"},
        {"attributes": {"type": "Task"}, "Id": sf_id("00T", 1), "Subject": "dup"}]})
    assert created[0]["success"] and created[0]["id"].startswith("00T")
    assert created[1]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Task"}, "id": created[0]["id"], "Status": "Completed"},
        {"attributes": {"type": "Task"}, "id": sf_id("00T", 99), "Status": "Completed"}]})
    assert [r["success"] for r in updated] == [True, False]
    task = sf.Task.get(created[0]["id"])
    # Task.AccountId is read-only and derived from WhatId, as in a real org.
    assert (task["Status"], task["AccountId"], task["Priority"]) == ("Completed", sf_id("001", 2), "Normal")


# ---------------------------------------------------------------- single-record upsert (Task external id)

def test_task_upsert_by_external_id_never_duplicates(sandbox, sf):
    data = {"Subject": "Renewal prep", "WhatId": sf_id("001", 1), "OwnerId": sf_id("005", 1),
            "ActivityDate": "2026-11-20", "Priority": "High"}
    assert sf.Task.upsert("CS_External_Id__c/play-renewal-001", data) == 201
    assert sf.Task.upsert("CS_External_Id__c/play-renewal-001", {**data, "Priority": "Normal"}) == 200
    rows = sf.query_all("SELECT Id, Priority, AccountId FROM Task "
                        "WHERE CS_External_Id__c = 'play-renewal-001'")["records"]
    assert len(rows) == 1 and rows[0]["Priority"] == "Normal" and rows[0]["AccountId"] == sf_id("001", 1)

    # The same through collections: the existing Task is updated, not copied.
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "CS_External_Id__c": "task-ext-1",
                                             "Subject": "Call 1 (retried)"}]}
    for _ in range(2):
        result = sf.restful("composite/sobjects/Task/CS_External_Id__c", method="PATCH", json=body)
        assert result[0]["created"] is False and result[0]["id"] == sf_id("00T", 1)
    assert sf.query("SELECT COUNT() FROM Task WHERE CS_External_Id__c = 'task-ext-1'")["totalSize"] == 1


def test_single_upsert_update_only_and_old_api_versions(sandbox, sf_session, sf):
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert("CS_External_Id__c/missing?updateOnly=true", {"Subject": "x"})
    token = sf.session_id
    url = f"{sandbox.urls['salesforce']}/services/data/v45.0/sobjects/Task/CS_External_Id__c/task-ext-1"
    response = sf_session.patch(url, json={"Subject": "old api"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204 and response.content == b""


def test_bad_token_on_writes(sandbox, sf):
    sf.session_id = "bogus"
    sf._generate_headers()
    with pytest.raises(SalesforceExpiredSession):
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"records": []})


# ---------------------------------------------------------------- Bulk API 2.0

def test_bulk2_upsert_lifecycle_with_failed_rows(sandbox, sf):
    sandbox.add_fault(route="jobs/ingest", partial_failures=["acct-003"])
    records = [{"Product_Account_Id__c": f"acct-00{n}", "Usage_Health_Score__c": str(50 + n)} for n in (1, 2, 3)]
    records.append({"Product_Account_Id__c": "acct-300", "Usage_Health_Score__c": "10"})  # creates: Name missing
    [result] = sf.bulk2.Account.upsert(records=records, external_id_field="Product_Account_Id__c", wait=0)
    assert result["numberRecordsProcessed"] == 4 and result["numberRecordsFailed"] == 2

    job_id = result["job_id"]
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(job_id))))
    errors = {row["Product_Account_Id__c"]: row["sf__Error"] for row in failed}
    assert errors["acct-003"].startswith("UNABLE_TO_LOCK_ROW:")
    assert errors["acct-300"].startswith("REQUIRED_FIELD_MISSING:")
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(job_id))))
    assert sorted((r["Product_Account_Id__c"], r["sf__Created"]) for r in ok) == [("acct-001", "false"),
                                                                                 ("acct-002", "false")]
    assert {r["sf__Id"] for r in ok} == {sf_id("001", 1), sf_id("001", 2)}
    assert "acct" not in _bulk_get(sandbox, sf, f"{job_id}/unprocessedrecords").text

    routes = sandbox.calls("salesforce")["routes"]
    assert routes["POST /jobs/ingest"] == 1 and routes["PUT /jobs/ingest/<id>/batches"] == 1
    assert routes["PATCH /jobs/ingest/<id>"] == 1 and routes["GET /jobs/ingest/<id>"] >= 1
    scores = {r["Product_Account_Id__c"]: r["Usage_Health_Score__c"] for r in sf.query_all(
        "SELECT Product_Account_Id__c, Usage_Health_Score__c FROM Account")["records"]}
    assert scores["acct-001"] == 51.0 and scores["acct-003"] is None  # a double field, as declared
    [write] = sandbox.writes("salesforce", "Account")
    assert write["operation"] == "bulk2.upsert" and write["results"]["failed"] == 2


def _bulk_get(sandbox, sf, path: str) -> requests.Response:
    session = requests.Session()
    session.trust_env, session.verify = False, str(sandbox.ca_path)
    with session:
        return session.get(f"{sandbox.urls['salesforce']}/services/data/v{SF_VERSION}/jobs/ingest/{path}",
                           headers={"Authorization": f"Bearer {sf.session_id}"})


@pytest.fixture
def slow_bulk(sandbox):
    """Bulk jobs of the session's sandbox take a second to process, for this test."""
    api = sandbox.apis["salesforce"]
    before, api.bulk_processing_seconds = api.bulk_processing_seconds, 1.0
    yield sandbox
    api.bulk_processing_seconds = before


def test_bulk2_job_states_over_raw_http(slow_bulk, sandbox, sf, sf_session):
    base = f"{sandbox.urls['salesforce']}/services/data/v{SF_VERSION}/jobs/ingest"
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    job = sf_session.post(base, json={"object": "Contact", "operation": "update", "contentType": "CSV",
                                      "lineEnding": "LF"}, headers=auth).json()
    assert job["state"] == "Open"
    data = f"Id,Title\n{sf_id('003', 1)},CEO\n{sf_id('003', 2)},CFO\n"
    assert sf_session.put(f"{base}/{job['id']}/batches", data=data, headers={**auth, "Content-Type": "text/csv"}
                          ).status_code == 201
    again = sf_session.put(f"{base}/{job['id']}/batches", data=data, headers={**auth, "Content-Type": "text/csv"})
    assert again.status_code == 400 and "multiple contents" in again.json()[0]["message"]
    early = sf_session.get(f"{base}/{job['id']}/successfulResults", headers=auth)
    assert early.status_code == 409
    closed = sf_session.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}, headers=auth).json()
    assert closed["state"] == "UploadComplete"
    assert sf_session.get(f"{base}/{job['id']}", headers=auth).json()["state"] == "InProgress"
    assert sf.Contact.get(sf_id("003", 2))["Title"] == "VP"  # not applied while the job runs
    time.sleep(1.2)
    assert sf_session.get(f"{base}/{job['id']}", headers=auth).json()["state"] == "JobComplete"
    results = sf_session.get(f"{base}/{job['id']}/successfulResults", headers=auth)
    assert results.headers["Content-Type"].startswith("text/csv")
    assert results.text.splitlines()[0] == '"sf__Id","sf__Created","Id","Title"'
    assert sf.Contact.get(sf_id("003", 2))["Title"] == "CFO"


def test_bulk2_job_failure_fault(sandbox, sf):
    sandbox.add_fault(route="PATCH .*/jobs/ingest/", bulk_job_failure="InvalidBatch : simulated failure")
    with pytest.raises(SalesforceOperationError, match="simulated failure"):
        sf.bulk2.Account.upsert(records=[{"Product_Account_Id__c": "acct-001", "Name": "X"}],
                                external_id_field="Product_Account_Id__c", wait=0)
    [job] = sandbox.apis["salesforce"].jobs.values()
    unprocessed = _bulk_get(sandbox, sf, f"{job.id}/unprocessedrecords")
    assert unprocessed.status_code == 200 and "acct-001" in unprocessed.text
    assert sandbox.writes("salesforce") == []


def test_bulk2_unknown_column_fails_the_job(sf):
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope"):
        sf.bulk2.Account.upsert(records=[{"Product_Account_Id__c": "acct-001", "Nope": "1"}],
                                external_id_field="Product_Account_Id__c", wait=0)


# ---------------------------------------------------------------- faults, metadata

def test_fault_sequence_answers_in_salesforce_error_format(sandbox, sf_session, sf):
    sandbox.add_fault(route="GET /query", sequence=[503, 500], retry_after=0)
    url = f"{sandbox.urls['salesforce']}/services/data/v{SF_VERSION}/query"
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    first = sf_session.get(url, params={"q": "SELECT Id FROM User"}, headers=auth)
    second = sf_session.get(url, params={"q": "SELECT Id FROM User"}, headers=auth)
    third = sf_session.get(url, params={"q": "SELECT Id FROM User"}, headers=auth)
    assert (first.status_code, second.status_code, third.status_code) == (503, 500, 200)
    assert first.json()[0]["errorCode"] == "SERVER_UNAVAILABLE" and first.headers["Retry-After"] == "0"
    assert second.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert sandbox.calls("salesforce")["routes"]["GET /query"] == 3


def _raw(sandbox, sf, session, method: str, path: str, **kwargs) -> requests.Response:
    url = f"{sandbox.urls['salesforce']}/services/data/v{SF_VERSION}/{path}"
    headers = {"Authorization": f"Bearer {sf.session_id}", **kwargs.pop("headers", {})}
    return session.request(method, url, headers=headers, **kwargs)


def test_describe_reports_declared_fields_with_their_properties(sandbox, sf, sf_session):
    describe = sf.Account.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    # The catalog's columns plus crm_setup.yaml's custom fields; a data-file column neither declares is not there.
    assert {"Id", "Name", "OwnerId", "Product_Account_Id__c", "SystemModstamp", "Usage_Health_Score__c",
            "Renewal_Risk__c", "CS_Report_URL__c"} <= set(fields)
    assert "Legacy_Rating__c" not in fields and "Health_Score__c" not in fields
    documented = {"name", "label", "type", "length", "externalId", "idLookup", "unique", "updateable",
                  "createable", "nillable", "custom", "referenceTo"}
    assert all(documented <= set(f) for f in fields.values())
    types = {name: fields[name]["type"] for name in ("Id", "OwnerId", "Name", "NumberOfEmployees",
                                                     "CSM_Impression_Date__c", "SystemModstamp", "IsDeleted",
                                                     "Usage_Health_Score__c", "Renewal_Risk__c",
                                                     "CS_Report_URL__c")}
    assert types == {"Id": "id", "OwnerId": "reference", "Name": "string", "NumberOfEmployees": "int",
                     "CSM_Impression_Date__c": "date", "SystemModstamp": "datetime", "IsDeleted": "boolean",
                     "Usage_Health_Score__c": "double", "Renewal_Risk__c": "boolean", "CS_Report_URL__c": "url"}
    ext = fields["Product_Account_Id__c"]
    assert (ext["externalId"], ext["unique"], ext["idLookup"], ext["length"], ext["custom"]) == (
        True, True, True, 64, True)
    assert (fields["Id"]["idLookup"], fields["Id"]["externalId"], fields["Id"]["nillable"]) == (True, False, False)
    assert not fields["Usage_Health_Score__c"]["externalId"] and fields["Usage_Health_Score__c"]["nillable"]
    assert fields["OwnerId"]["referenceTo"] == ["User"] and not fields["SystemModstamp"]["updateable"]
    assert not fields["Name"]["nillable"] and fields["Name"]["createable"]
    # The trailing-slash form answers the same; so does simple-salesforce's lookup by external id.
    slash = _raw(sandbox, sf, sf_session, "GET", "sobjects/Account/describe/")
    assert slash.status_code == 200 and slash.json() == describe
    assert sf.Account.get_by_custom_id("Product_Account_Id__c", "acct-002")["Id"] == sf_id("001", 2)
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["CS_External_Id__c"]["externalId"] and task["CS_External_Id__c"]["length"] == 128


def test_data_file_columns_are_readable_but_not_writable(sf):
    [row] = sf.query("SELECT Legacy_Rating__c FROM Account WHERE Id = '" + sf_id("001", 1) + "'")["records"]
    assert row["Legacy_Rating__c"] == "B"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(sf_id("001", 1), {"Legacy_Rating__c": "A"})
    assert _error_code(exc) == "INVALID_FIELD"


def test_unknown_field_refuses_the_whole_collections_call(sandbox, sf):
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "Name": "Fine"},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-002", "Health_Score__c": 81}]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)
    assert exc.value.status == 400
    assert exc.value.content[0] == {"message": "No such column 'Health_Score__c' on sobject of type Account",
                                    "errorCode": "INVALID_FIELD"}
    with pytest.raises(SalesforceMalformedRequest) as exc:  # insert and update by type alike
        sf.restful("composite/sobjects", method="POST", json={"records": [
            {"attributes": {"type": "Task"}, "Subject": "x", "Bogus__c": "1"}]})
    assert _error_code(exc) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="PATCH", json={"records": [
            {"attributes": {"type": "Account"}, "id": sf_id("001", 1), "Nope": 1}]})
    assert _error_code(exc) == "INVALID_FIELD"
    assert sf.Account.get(sf_id("001", 1))["Name"] == "Account 1"
    assert sandbox.writes("salesforce") == []


def test_unknown_field_on_single_record_writes(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(sf_id("001", 1), {"Health_Score__c": 5})
    assert exc.value.content[0]["message"] == "No such column 'Health_Score__c' on sobject of type Account"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "New", "Health_Score__c": 5})
    assert _error_code(exc) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.upsert("Product_Account_Id__c/acct-001", {"Health_Score__c": 5})
    assert _error_code(exc) == "INVALID_FIELD"
    created = sf.Account.create({"Name": "New", "Usage_Health_Score__c": 5})
    assert created["success"] and sf.Account.get(created["id"])["Usage_Health_Score__c"] == 5.0


def test_bulk2_undeclared_field_fails_the_job(sf):
    with pytest.raises(SalesforceOperationError, match="InvalidBatch : Field name not found : Health_Score__c"):
        sf.bulk2.Account.upsert(records=[{"Product_Account_Id__c": "acct-001", "Health_Score__c": "1"}],
                                external_id_field="Product_Account_Id__c", wait=0)


def test_a_field_added_at_runtime_is_writable_until_reset(sandbox, sf):
    body = {"records": [{"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001",
                         "Health_Score__c": 81}]}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)
    added = sandbox.add_salesforce_field("Account", "Health_Score__c", type="double")
    assert (added["name"], added["type"], added["externalId"], added["custom"]) == (
        "Health_Score__c", "double", False, True)
    assert sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)[0]["success"]
    assert sf.Account.get(sf_id("001", 1))["Health_Score__c"] == 81.0
    assert {f["name"]: f for f in sf.Account.describe()["fields"]}["Health_Score__c"]["type"] == "double"
    # An External ID added in Setup becomes an upsert key, through the admin API too.
    admin = requests.post(f"{sandbox.urls['salesforce']}/__sandbox/salesforce/fields", verify=str(sandbox.ca_path),
                          json={"sobject": "Contact", "name": "Ext_Key__c", "externalId": True, "unique": True,
                                "length": 20})
    assert admin.status_code == 200 and admin.json()["field"]["externalId"] is True
    assert sf.Contact.upsert("Ext_Key__c/k-1", {"LastName": "Ext"}) == 201
    sandbox.reset()
    sf_fields = {f["name"] for f in sf.Account.describe()["fields"]}
    assert "Health_Score__c" not in sf_fields


def test_upsert_keyed_on_a_field_that_is_not_an_external_id(sandbox, sf, sf_session):
    message = "Field name provided, Name is not an External ID or indexed field for Account"
    body = {"records": [{"attributes": {"type": "Account"}, "Name": "Account 1", "Industry": "Retail"}]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects/Account/Name", method="PATCH", json=body)
    assert exc.value.content == [{"message": message, "errorCode": "INVALID_FIELD"}]
    with pytest.raises(SalesforceMalformedRequest) as exc:  # a custom field without the External ID flag
        sf.restful("composite/sobjects/Account/Usage_Health_Band__c", method="PATCH", json=body)
    assert "Usage_Health_Band__c is not an External ID" in exc.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.upsert("Name/Account 1", {"Industry": "Retail"})
    assert exc.value.content == [{"message": message, "errorCode": "INVALID_FIELD"}]
    response = _raw(sandbox, sf, sf_session, "GET", "sobjects/Account/Name/Account 1")
    assert response.status_code == 400 and response.json() == [{"message": message, "errorCode": "INVALID_FIELD"}]
    missing = _raw(sandbox, sf, sf_session, "GET", "sobjects/Account/Nope__c/1")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    job = _raw(sandbox, sf, sf_session, "POST", "jobs/ingest", json={
        "object": "Account", "operation": "upsert", "externalIdFieldName": "Name", "contentType": "CSV"})
    assert job.status_code == 400 and job.json()[0]["errorCode"] == "INVALIDJOB"
    assert "Name does not match an External ID" in job.json()[0]["message"]
    assert sandbox.apis["salesforce"].jobs == {} and sandbox.writes("salesforce") == []
    # Id and the declared External IDs are upsert keys.
    assert sf.restful("composite/sobjects/Account/Id", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": sf_id("001", 1), "Industry": "Retail"}]})[0]["success"]
    assert sf.Task.get_by_custom_id("CS_External_Id__c", "task-ext-1")["Id"] == sf_id("00T", 1)


def test_a_unique_external_id_refuses_a_second_record_with_its_value(sandbox, sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:  # update: Account 2 takes Account 1's value
        sf.Account.update(sf_id("001", 2), {"Product_Account_Id__c": "acct-001"})
    assert _error_code(exc) == "DUPLICATE_VALUE" and exc.value.content[0]["fields"] == ["Product_Account_Id__c"]
    assert sf_id("001", 1) in exc.value.content[0]["message"]
    results = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Task"}, "Subject": "a", "CS_External_Id__c": "task-ext-1"},  # exists
        {"attributes": {"type": "Task"}, "Subject": "b", "CS_External_Id__c": "new-1"},
        {"attributes": {"type": "Task"}, "Subject": "c", "CS_External_Id__c": "new-1"}]})  # same call
    assert [r["errors"][0]["statusCode"] if r["errors"] else "ok" for r in results] == [
        "DUPLICATE_VALUE", "ok", "DUPLICATE_VALUE"]
    assert sf.query("SELECT COUNT() FROM Task WHERE CS_External_Id__c = 'new-1'")["totalSize"] == 1
    data = f"Id,Product_Account_Id__c\n{sf_id('001', 3)},acct-002\n{sf_id('001', 4)},acct-404\n"
    [result] = sf.bulk2.Account.update(records=list(csv.DictReader(io.StringIO(data))), wait=0)
    assert result["numberRecordsFailed"] == 1
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(result["job_id"]))))
    assert [r["Id"] for r in failed] == [sf_id("001", 3)] and failed[0]["sf__Error"].startswith("DUPLICATE_VALUE:")


def test_collections_records_need_attributes_type(sandbox, sf):
    for path, method, record in [
            ("composite/sobjects", "POST", {"Subject": "no type"}),
            ("composite/sobjects", "PATCH", {"attributes": {}, "id": sf_id("00T", 1), "Subject": "x"}),
            (ACCOUNT_UPSERT, "PATCH", {"Product_Account_Id__c": "acct-001", "Name": "x"})]:
        good = {"attributes": {"type": "Task"}, "Subject": "typed"}
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.restful(path, method=method, json={"allOrNone": False, "records": [good, record]})
        assert exc.value.status == 400 and _error_code(exc) == "JSON_PARSER_ERROR"
        assert "type" in exc.value.content[0]["message"]
    assert sandbox.writes("salesforce") == []
    results = sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "Product_Account_Id__c": "acct-001"}]})
    assert results[0]["errors"][0]["statusCode"] == "INVALID_TYPE"


def test_a_json_value_of_the_wrong_type_fails_the_whole_call(sandbox, sf):
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "Usage_Health_Score__c": 10},
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-002", "Usage_Health_Score__c": "n/a"}]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(ACCOUNT_UPSERT, method="PATCH", json=body)
    assert exc.value.status == 400 and _error_code(exc) == "JSON_PARSER_ERROR"
    assert exc.value.content[0]["message"].startswith(
        "Cannot deserialize instance of double from VALUE_STRING value n/a")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(sf_id("001", 1), {"Renewal_Risk__c": "maybe"})
    assert exc.value.content[0]["message"].startswith(
        "Cannot deserialize instance of boolean from VALUE_STRING value maybe")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.update(sf_id("001", 1), {"CSM_Impression_Date__c": 20261001})
    assert exc.value.content[0]["message"].startswith("Cannot deserialize instance of date from VALUE_NUMBER_INT")
    assert sf.Account.get(sf_id("001", 1))["Usage_Health_Score__c"] is None
    assert sandbox.writes("salesforce") == []


def test_bulk2_csv_bad_value_empty_cell_and_na(sandbox, sf):
    sf.Account.update(sf_id("001", 1), {"Usage_Health_Band__c": "green", "Usage_Health_Score__c": 70})
    sf.Account.update(sf_id("001", 2), {"Usage_Health_Band__c": "amber", "Usage_Health_Score__c": 50})
    data = ("Product_Account_Id__c,Usage_Health_Score__c,Usage_Health_Band__c,Name\n"
            "acct-001,,#N/A,\n"  # empty cells leave fields unchanged; #N/A sets null
            "acct-002,n/a,red,\n"  # a value that does not fit: this row fails alone
            "acct-003,12.5,red,#N/A\n")  # a required field set to null
    [result] = sf.bulk2.Account.upsert(records=list(csv.DictReader(io.StringIO(data))),
                                       external_id_field="Product_Account_Id__c", wait=0)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 2)
    failed = {r["Product_Account_Id__c"]: r["sf__Error"] for r in csv.DictReader(io.StringIO(
        sf.bulk2.Account.get_failed_records(result["job_id"])))}
    assert failed["acct-002"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:Usage Health Score: value not of "
                                         "required type: n/a:")
    assert failed["acct-003"].startswith("REQUIRED_FIELD_MISSING:")
    rows = {r["Product_Account_Id__c"]: r for r in sf.query_all(
        "SELECT Product_Account_Id__c, Name, Usage_Health_Score__c, Usage_Health_Band__c FROM Account "
        "WHERE Product_Account_Id__c IN ('acct-001', 'acct-002', 'acct-003')")["records"]}
    assert (rows["acct-001"]["Usage_Health_Score__c"], rows["acct-001"]["Usage_Health_Band__c"]) == (70.0, None)
    assert rows["acct-001"]["Name"] == "Account 1"
    assert (rows["acct-002"]["Usage_Health_Score__c"], rows["acct-002"]["Usage_Health_Band__c"]) == (50.0, "amber")
    assert rows["acct-003"]["Usage_Health_Band__c"] is None and rows["acct-003"]["Name"] == "Account 3"


def test_declared_length_is_enforced(sf):
    results = sf.restful(ACCOUNT_UPSERT, method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Product_Account_Id__c": "acct-001", "Usage_Health_Band__c": "x" * 33}]})
    assert results[0]["errors"][0]["statusCode"] == "STRING_TOO_LONG"


def test_bulk2_job_completes_on_the_clock_without_polls(slow_bulk, sandbox, sf, sf_session):
    job = _raw(sandbox, sf, sf_session, "POST", "jobs/ingest", json={
        "object": "Account", "operation": "upsert", "externalIdFieldName": "Product_Account_Id__c",
        "contentType": "CSV", "lineEnding": "LF"}).json()
    data = "Product_Account_Id__c,Usage_Health_Score__c\nacct-001,42\n"
    assert _raw(sandbox, sf, sf_session, "PUT", f"jobs/ingest/{job['id']}/batches", data=data,
                headers={"Content-Type": "text/csv"}).status_code == 201
    started = time.monotonic()
    closed = _raw(sandbox, sf, sf_session, "PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    query = f"SELECT Usage_Health_Score__c FROM Account WHERE Id = '{sf_id('001', 1)}'"
    assert sf.query(query)["records"][0]["Usage_Health_Score__c"] is None
    early = _raw(sandbox, sf, sf_session, "GET", f"jobs/ingest/{job['id']}/successfulResults")
    assert early.status_code == 409
    time.sleep(max(0.0, 1.3 - (time.monotonic() - started)))
    assert sandbox.writes("salesforce", "Account")  # applied by the job's timer: nobody polled
    assert sf.query(query)["records"][0]["Usage_Health_Score__c"] == 42.0
    assert sandbox.calls("salesforce")["routes"].get("GET /jobs/ingest/<id>") is None
    assert _raw(sandbox, sf, sf_session, "GET", f"jobs/ingest/{job['id']}").json()["state"] == "JobComplete"


def test_bulk2_zero_processing_time(sample_dir, tmp_path):
    with Sandbox(sample_dir, state_dir=tmp_path, bulk_processing_seconds=0, now=lambda: NOW) as fast:
        session = requests.Session()
        session.trust_env, session.verify = False, str(fast.ca_path)
        sf = salesforce_client(fast, session)
        started = time.monotonic()
        [result] = sf.bulk2.Contact.update(records=[{"Id": sf_id("003", 1), "Title": "CEO"}], wait=0)
        assert result["numberRecordsFailed"] == 0 and time.monotonic() - started < 1.0
        assert sf.Contact.get(sf_id("003", 1))["Title"] == "CEO"


def test_only_the_documented_result_resources_answer(sandbox, sf, sf_session):
    [result] = sf.bulk2.Contact.update(records=[{"Id": sf_id("003", 1), "Title": "CEO"}], wait=0)
    job_id = result["job_id"]
    for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
        assert _raw(sandbox, sf, sf_session, "GET", f"jobs/ingest/{job_id}/{kind}").status_code == 200
    for kind in ("unprocessedRecords", "successfulresults", "failedRecords"):
        response = _raw(sandbox, sf, sf_session, "GET", f"jobs/ingest/{job_id}/{kind}")
        assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):  # simple-salesforce asks for the wrong spelling
        sf.bulk2.Contact.get_unprocessed_records(job_id)
