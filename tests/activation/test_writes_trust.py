"""Writes that never diverge, duplicate or loop (issue 13), each against the strict
sandbox over real HTTP: one meaning for empty values, Bulk results matched per
record from what could be read, creates never retried, create-once decided by
what the CRM holds, keys compared as the CRM stores them, duplicate keys refused."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from cs_platform.activation.component import parse_syncs
from cs_platform.activation.state import LOG_TABLE, STATE_TABLE
from cs_platform.resources.hubspot import HubSpotResource
from tests.activation.support import (
    ACCOUNTS_TABLE,
    COMPANIES_TABLE,
    TASKS_TABLE,
    account_id,
    account_rows,
    company_rows,
    materialize,
    metadata,
    spec_of,
    syncs_doc,
    task_rows,
    write_model,
)

CONTACTS_TABLE = "marts.activation_hubspot_contacts"
CONTACT_COLUMNS = {"email": "string", "firstname": "string"}


def _top_component(crm, i: int):
    return crm.account(crm.sf_id[account_id(i)])["Top_Dropping_Component__c"]


# --------------------------------------------------------------------------- 1. empty values

def test_an_empty_string_means_null_on_bulk_collections_and_hubspot(sandbox, crm, warehouse, resources):
    rows = account_rows(crm)
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    bulk = spec_of("account_health", salesforce={"bulk_threshold": 100})  # nulls: clear
    assert materialize(bulk, resources).success
    assert _top_component(crm, 1) == "reports" and _top_component(crm, 201) == "logins"

    # 120 records go to Bulk API 2.0 with an empty string: a Bulk CSV's empty cell
    # would leave the field as it is; here it clears it, as a null does.
    rows.loc[:149, "top_dropping_component"] = ""
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    md = metadata(materialize(bulk, resources))
    assert md["batches"] == {"bulk2": 1} and md["succeeded"] == 120
    assert _top_component(crm, 1) is None

    # The same through sObject Collections (24 records, below the Bulk threshold).
    rows.loc[150:179, "top_dropping_component"] = "  "
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    md = metadata(materialize(bulk, resources))
    assert md["batches"] == {"collections": 1} and md["succeeded"] == 24
    assert _top_component(crm, 151) is None
    # ...and nothing is owed afterwards: the state holds what the CRM holds.
    assert metadata(materialize(bulk, resources))["planned"] == 0

    # With nulls: skip an empty string leaves the field alone, on every path.
    skip = spec_of("account_health", nulls="skip", salesforce={"bulk_threshold": 100})
    rows.loc[180:, "top_dropping_component"] = ""
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    assert materialize(skip, resources, override_guards=True).success  # every payload lost a field
    assert _top_component(crm, 201) == "logins"

    # HubSpot: an empty string clears the property, the same as a null.
    companies = company_rows(300)
    write_model(warehouse, COMPANIES_TABLE, companies)
    hubspot = spec_of("company_lifecycle")
    assert materialize(hubspot, resources).success
    companies.loc[:9, "usage_health_band"] = ""
    write_model(warehouse, COMPANIES_TABLE, companies)
    assert metadata(materialize(hubspot, resources))["succeeded"] == 10
    assert crm.companies()[account_id(3)].get("cs_usage_health_band") in (None, "")
    state = warehouse.query(f"select synced_payload from {STATE_TABLE} where sync = 'company_lifecycle' "
                            f"and record_key = '{account_id(3)}'")
    assert '"cs_usage_health_band":null' in state["synced_payload"][0]


# --------------------------------------------------------------------------- 2. Bulk result files

def test_an_unreadable_bulk_result_file_leaves_only_its_records_undecided(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health", salesforce={"bulk_threshold": 100})
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    bad = crm.sf_id[account_id(7)]
    sandbox.add_fault(route="PUT .*batches", partial_failures=[bad], times=1,
                      partial_failure_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                      partial_failure_message="rejected by a validation rule")
    sandbox.add_fault(route="failedResults", error_status=500, error_rate=1.0, times=7)  # every retry
    md = metadata(materialize(spec, resources))
    # The 299 written records are synced; the one in the unreadable file is undecided.
    assert (md["succeeded"], md["failed"]) == (299, 0)
    state = warehouse.query(f"select status, count(*) n from {STATE_TABLE} group by status")
    assert dict(zip(state["status"], state["n"])) == {"synced": 299, "in_flight": 1}
    # Only the documented result resources were asked for.
    routes = sandbox.calls("salesforce")["routes"]
    assert not [r for r in routes if "unprocessedRecords" in r]

    sandbox.clear_faults()
    md = metadata(materialize(spec, resources))
    # The next run checks that one record in Salesforce and sends only it, not the 299.
    assert (md["planned"], md["sent"], md["succeeded"]) == (1, 1, 1)


# --------------------------------------------------------------------------- 3. creates are never retried

def test_an_insert_whose_answer_is_lost_is_not_sent_again(sandbox, crm, warehouse):
    env = sandbox.env()
    # A client that gives up after 0.5 s while the sandbox holds the call for 1.5 s and then applies it.
    resources = {"warehouse": warehouse, "hubspot": HubSpotResource(
        base_url=env["HUBSPOT_BASE_URL"], access_token=env["HUBSPOT_ACCESS_TOKEN"], retry_backoff_seconds=0.01,
        timeout_seconds=0.5)}
    spec = spec_of("company_lifecycle", mode="insert", key={"column": "product_account_id",
                                                           "field": "product_account_id"})
    new = company_rows(3).assign(product_account_id=[f"NEW-{i}" for i in range(3)])
    write_model(warehouse, COMPANIES_TABLE, new)
    sandbox.add_fault(route="batch/create", latency_ms=1500, times=1)
    result = materialize(spec, resources)
    assert not result.success
    assert sandbox.calls("hubspot")["routes"]["POST /crm/v3/objects/companies/batch/create"] == 1  # no retry
    state = warehouse.query(f"select status, count(*) n from {STATE_TABLE} group by status")
    assert dict(zip(state["status"], state["n"])) == {"in_flight": 3}

    _wait_for(lambda: len([c for c in crm.companies() if str(c).startswith("NEW-")]) == 3)
    md = metadata(materialize(spec, resources))
    assert (md["reconciled_after_crash"], md["sent"]) == (3, 0)
    created = Counter(c["properties"].get("product_account_id") for c in sandbox.records("hubspot/companies"))
    assert [created[f"NEW-{i}"] for i in range(3)] == [1, 1, 1]


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --------------------------------------------------------------------------- 4. created once, by the CRM

def test_create_once_asks_the_crm_so_a_lost_state_never_resets_a_csms_task(sandbox, crm, warehouse, resources):
    spec = spec_of("renewal_risk_tasks")
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(10)))
    assert metadata(materialize(spec, resources))["created"] == 10
    # The CSM works one Task...
    task = next(t for t in crm.tasks() if t["CS_External_Id__c"].endswith(f"{account_id(3)}:2026-06"))
    sandbox.mutate("salesforce/Task", "update", [{"Id": task["Id"], "Status": "Completed", "Priority": "Low"}])
    # ...and the sync's state is lost (a restored warehouse, a dropped schema).
    warehouse.execute(f"drop table {STATE_TABLE}")
    before = len(sandbox.writes("salesforce", "Task"))
    md = metadata(materialize(spec, resources))
    assert (md["adopted_existing"], md["sent"], md["created"]) == (10, 0, 0)
    assert len(sandbox.writes("salesforce", "Task")) == before  # not one Task written
    worked = next(t for t in crm.tasks() if t["Id"] == task["Id"])
    assert (worked["Status"], worked["Priority"]) == ("Completed", "Low")
    assert len(crm.tasks()) == 10

    # A renamed sync (new state, same Tasks) does the same.
    tasks = next(s for s in syncs_doc()["syncs"] if s["name"] == "renewal_risk_tasks")
    renamed = parse_syncs({"syncs": [{**tasks, "name": "csm_renewal_tasks"}]})[0]
    assert metadata(materialize(renamed, resources))["adopted_existing"] == 10
    assert len(crm.tasks()) == 10


# --------------------------------------------------------------------------- 7. duplicate keys

def test_duplicate_model_keys_refuse_the_run_naming_them(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    rows = account_rows(crm, 20)
    rows.loc[3, "account_id"] = rows.loc[2, "account_id"]
    rows.loc[5, "account_id"] = rows.loc[4, "account_id"]
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    result = materialize(spec, resources)
    assert not result.success
    assert "PA-00002 (2 rows), PA-00004 (2 rows)" in metadata(result)["error"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["unique_keys"].passed and checks["unique_keys"].metadata["duplicate_keys"].value == [
        "PA-00002", "PA-00004"]
    assert not sandbox.writes("salesforce", "Account")


# --------------------------------------------------------------------------- 8. keys as the CRM stores them

def test_contacts_keyed_on_an_email_with_capitals_are_matched_and_not_rewritten(sandbox, crm, warehouse, resources):
    spec = parse_syncs({"syncs": [{
        "name": "contact_names", "model": "activation_hubspot_contacts", "table": CONTACTS_TABLE,
        "destination": "hubspot", "object": "contacts", "mode": "upsert",
        "key": {"column": "email", "field": "email"}, "fields": {"firstname": "firstname"}}]})[0]
    df = pd.DataFrame([{"email": f"Person.{i}@Example.COM", "firstname": f"Person {i}"} for i in range(5)])
    warehouse.write(CONTACTS_TABLE, df, CONTACT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["failed"], md["created"]) == (5, 0, 5)
    emails = {c["properties"]["email"] for c in sandbox.records("hubspot/contacts")}
    assert {f"person.{i}@example.com" for i in range(5)} <= emails
    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["api_calls"]) == (0, 0)  # nothing owed: no rewrite every run


def test_record_outcomes_are_logged_once_per_attempt(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, 30))
    assert materialize(spec, resources).success
    log = warehouse.query(f"select outcome, count(*) n from {LOG_TABLE} group by outcome")
    assert dict(zip(log["outcome"], log["n"])) == {"success": 30}


# --------------------------------------------------------------------------- preflight

def test_a_misspelt_field_or_a_key_that_is_no_external_id_fails_at_preflight_and_writes_nothing(
        sandbox, crm, warehouse, resources):
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    misspelt = spec_of("account_health", fields={"usage_health_score": "Usage_Health_Scroe__c"})
    result = materialize(misspelt, resources)
    assert not result.success
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["crm_schema"]
    assert not check.passed and "Usage_Health_Scroe__c" in check.description
    assert "sync 'account_health', field 'Usage_Health_Scroe__c'" in metadata(result)["error"]
    assert "did you mean Usage_Health_Score__c" in metadata(result)["error"]
    # A dry run shows the same problem in its plan and as the (blocking) check.
    dry = materialize(misspelt, resources, dry_run=True)
    assert not {e.check_name: e for e in dry.get_asset_check_evaluations()}["crm_schema"].passed
    assert "Usage_Health_Scroe__c" in metadata(dry)["preflight_problems"][0]

    keyed_on_name = spec_of("account_health", mode="upsert", record_id=None,
                            key={"column": "account_id", "field": "Name"})
    result = materialize(keyed_on_name, resources)
    assert not result.success
    assert "Account.Name" in metadata(result)["error"] and "External ID" in metadata(result)["error"]
    assert not sandbox.writes("salesforce", "Account")  # nothing was written by either
