"""The reverse-ETL syncs over real HTTP against the sandbox (Salesforce over TLS through
simple-salesforce, HubSpot through the project's client), with the model tables in
a real DuckDB file and the runs through Dagster."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest
import yaml

from cs_platform.activation.state import LOG_TABLE, STATE_TABLE
from cs_platform.settings import PROJECT_ROOT
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
    task_rows,
    write_model,
)

ACCOUNT_ROUTE = "PATCH /composite/sobjects"
HUBSPOT_UPDATE = "POST /crm/v3/objects/companies/batch/update"


def routes(sandbox, api):
    return sandbox.calls(api)["routes"]


def state_of(warehouse, sync):
    return warehouse.query(f"select * from {STATE_TABLE} where sync = ? order by record_key", [sync])


# --------------------------------------------------------------------------- first run, no-op, 1%

def test_first_run_writes_everything_second_run_sends_nothing_one_percent_sends_only_those(
        sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))

    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["sent"], md["succeeded"], md["failed"], md["updated"]) == (300, 300, 300, 0, 300)
    assert md["api_write_calls"] == math.ceil(300 / 200) == routes(sandbox, "salesforce")[ACCOUNT_ROUTE]
    assert md["guard_decision"] == "passed" and md["salesforce_api_usage"].endswith("/100000")
    rows = account_rows(crm).set_index("account_id")
    for i in (0, 1, 7, 299):
        acct = crm.account(crm.sf_id[account_id(i)])
        row = rows.loc[account_id(i)]
        assert acct["Usage_Health_Score__c"] == row["usage_health_score"]
        assert acct["Usage_Health_Band__c"] == row["usage_health_band"]
        assert acct["Renewal_Risk__c"] == bool(row["is_renewal_risk"])
        assert acct["CS_Report_URL__c"] == row["report_url"]
    assert crm.account(crm.sf_id[account_id(0)])["Top_Dropping_Component__c"] is None  # nulls: clear

    # Second run, model unchanged: no API call at all (not even a login).
    before = sandbox.calls("salesforce")["total"]
    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["sent"], md["unchanged"], md["api_calls"]) == (0, 0, 300, 0)
    assert sandbox.calls("salesforce")["total"] == before

    # 1% of rows change: only those 3 are sent, in one call (ceil(3 / 200)).
    changed = {4, 150, 298}
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, changed=changed))
    seq = len(sandbox.writes())
    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["sent"], md["succeeded"], md["unchanged"]) == (3, 3, 3, 297)
    assert md["api_write_calls"] == 1
    writes = sandbox.writes("salesforce", since=seq)
    assert len(writes) == 1
    assert sorted(r["Id"] for r in writes[0]["records"]) == sorted(crm.sf_id[account_id(i)] for i in changed)
    assert "Usage_Health_Score__c" in md["changes_sample"]


def test_hubspot_first_run_then_noop_then_one_percent(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle")
    write_model(warehouse, COMPANIES_TABLE, company_rows(300))
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["succeeded"], md["failed"]) == (300, 300, 0)
    assert routes(sandbox, "hubspot")[HUBSPOT_UPDATE] == math.ceil(300 / 100)
    companies = crm.companies()
    assert companies[account_id(1)]["cs_usage_health_band"] == "yellow"
    assert companies[account_id(3)]["cs_is_renewal_risk"] == "true"
    assert companies[account_id(1)]["cs_is_renewal_risk"] == "false"

    total = sandbox.calls("hubspot")["total"]
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["unchanged"]) == (0, 300) and sandbox.calls("hubspot")["total"] == total

    write_model(warehouse, COMPANIES_TABLE, company_rows(300, changed={10, 20, 30}))
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["succeeded"], md["api_write_calls"]) == (3, 3, 1)
    assert crm.companies()[account_id(10)]["cs_usage_health_band"] == "red"


def test_tasks_are_created_once_and_never_overwritten(sandbox, crm, warehouse, resources):
    spec = spec_of("renewal_risk_tasks")
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(5)))
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["created"]) == (5, 5)
    tasks = {t["CS_External_Id__c"]: t for t in crm.tasks()}
    task = tasks[f"renewal_risk:{account_id(2)}:2026-06"]
    assert (task["WhatId"], task["AccountId"], task["OwnerId"]) == (
        crm.sf_id[account_id(2)], crm.sf_id[account_id(2)], task["OwnerId"])
    assert (task["ActivityDate"], task["Status"], task["Priority"]) == ("2026-06-15", "Not Started", "High")

    # The CSM edits a task; the model's text changes; a new account enters the list.
    rows = task_rows(crm, range(6))
    rows.loc[0, "description"] = "changed reasons"
    write_model(warehouse, TASKS_TABLE, rows)
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["created"], md["unchanged"]) == (1, 1, 5)
    assert len(crm.tasks()) == 6
    assert {t["CS_External_Id__c"] for t in crm.tasks()} == set(rows["task_key"])


# --------------------------------------------------------------------------- record-level failures

def test_hubspot_207_marks_exactly_the_named_inputs_failed_and_retries_them(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle")
    write_model(warehouse, COMPANIES_TABLE, company_rows(250))
    failing = [account_id(i) for i in (3, 117, 240)]  # in three different batches
    sandbox.add_fault(route="batch/update", partial_failures=failing, times=3)
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["succeeded"], md["failed"]) == (250, 247, 3)
    state = state_of(warehouse, "company_lifecycle").set_index("record_key")
    assert sorted(state.index[state["status"] == "failed"]) == sorted(failing)
    assert set(state.loc[failing, "error_code"]) == {"VALIDATION_ERROR"}
    log = warehouse.query(f"select record_key, outcome from {LOG_TABLE} where outcome = 'failed'")
    assert sorted(log["record_key"]) == sorted(failing)
    assert {k for k, p in crm.companies().items() if p.get("cs_usage_health_band")} == \
        {account_id(i) for i in range(250)} - set(failing)

    # Next run, data unchanged: exactly the 3 failed keys are retried, in one call.
    calls = routes(sandbox, "hubspot")[HUBSPOT_UPDATE]
    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["retried_failed"], md["sent"], md["succeeded"], md["unchanged"]) == (3, 3, 3, 3, 247)
    assert routes(sandbox, "hubspot")[HUBSPOT_UPDATE] == calls + 1
    assert all(crm.companies()[k].get("cs_usage_health_band") for k in failing)
    assert set(state_of(warehouse, "company_lifecycle")["status"]) == {"synced"}


def test_salesforce_collections_partial_failures_are_retried(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    failing = [crm.sf_id[account_id(i)] for i in (5, 6, 250)]
    sandbox.add_fault(route="composite/sobjects", partial_failures=failing, times=2)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["failed"]) == (297, 3)
    assert {f["error_code"] for f in md["failed_sample"]} == {"UNABLE_TO_LOCK_ROW"}
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["succeeded"], md["failed"]) == (3, 3, 0)
    assert crm.account(failing[0])["Usage_Health_Score__c"] is not None


def test_bulk_job_failed_rows_are_matched_by_key_and_retried(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health", salesforce={"bulk_threshold": 100})
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    failing = [crm.sf_id[account_id(i)] for i in (0, 149, 299)]
    sandbox.add_fault(route="PUT .*batches", partial_failures=failing, partial_failure_code="UNABLE_TO_LOCK_ROW",
                      times=1)
    md = metadata(materialize(spec, resources))
    assert md["batches"] == {"bulk2": 1}
    assert (md["sent"], md["succeeded"], md["failed"]) == (300, 297, 3)
    state = state_of(warehouse, "account_health").set_index("record_key")
    failed_keys = sorted(state.index[state["status"] == "failed"])
    assert failed_keys == sorted(account_id(i) for i in (0, 149, 299))  # matched by Id, not row order
    assert set(state.loc[failed_keys, "error_code"]) == {"UNABLE_TO_LOCK_ROW"}
    ok = state.loc[account_id(1)]
    assert ok["status"] == "synced" and ok["destination_id"] == crm.sf_id[account_id(1)]
    assert float(crm.account(crm.sf_id[account_id(1)])["Usage_Health_Score__c"]) == 47.0  # written from the CSV

    md = metadata(materialize(spec, resources))  # 3 owed records: below the threshold, Collections
    assert (md["sent"], md["succeeded"], md["batches"]) == (3, 3, {"collections": 1})


def test_a_failed_bulk_job_marks_its_records_failed_and_fails_the_run(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health", salesforce={"bulk_threshold": 100})
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    sandbox.add_fault(route="PUT .*batches", bulk_job_failure="InvalidBatch : injected", times=1)
    result = materialize(spec, resources)
    assert not result.success
    md = metadata(result)
    assert md["outcome"] == "error" and md["failed"] == 300 and "InvalidBatch" in md["message"]
    md = metadata(materialize(spec, resources))
    assert (md["retried_failed"], md["succeeded"]) == (300, 300)


# --------------------------------------------------------------------------- throttling and errors

def test_429_storms_and_5xx_are_survived(sandbox, crm, warehouse, resources):
    sf, hs = spec_of("account_health"), spec_of("company_lifecycle")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    write_model(warehouse, COMPANIES_TABLE, company_rows(300))
    sandbox.add_fault(route="composite/sobjects", sequence=[429, 429, 500, 503, 429], retry_after=0)
    sandbox.add_fault(route="batch/update", sequence=[429, 429, 429, 502, 500], retry_after=0)
    md_sf = metadata(materialize(sf, resources))
    md_hs = metadata(materialize(hs, resources))
    assert (md_sf["succeeded"], md_sf["failed"]) == (300, 0)
    assert (md_hs["succeeded"], md_hs["failed"]) == (300, 0)
    # Every retried attempt is counted as an API call.
    assert md_sf["api_write_calls"] == 2 + 5 and md_hs["api_write_calls"] == 3 + 5
    assert routes(sandbox, "hubspot")[HUBSPOT_UPDATE] == 8
    # Each record was written exactly once: the refused attempts changed nothing.
    updated = [r["Id"] for w in sandbox.writes("salesforce", "Account") for r in w["records"]]
    assert len(updated) == len(set(updated)) == 300


def test_hubspot_429_retry_after_is_honoured(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle")
    write_model(warehouse, COMPANIES_TABLE, company_rows(50))
    sandbox.add_fault(route="batch/update", sequence=[429], retry_after=1)
    t0 = time.monotonic()
    md = metadata(materialize(spec, resources))
    assert md["succeeded"] == 50
    assert time.monotonic() - t0 >= 1.0  # waited as the Retry-After header asked


@pytest.mark.sandbox(salesforce_api_limit=15)  # the org allows 15 requests a day
def test_salesforce_run_stops_cleanly_before_the_api_budget(crm, warehouse, resources, sandbox):
    spec = spec_of("account_health", salesforce={"batch_size": 20, "max_api_usage_share": 0.8})
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    result = materialize(spec, resources)
    assert result.success
    md = metadata(result)
    assert md["outcome"] == "stopped_api_budget"
    used, limit = (int(x) for x in md["salesforce_api_usage"].split("/"))
    assert used <= 0.8 * limit and limit == 15
    assert md["sent"] + md["deferred"] == 300 and md["deferred"] > 0
    assert "records were not sent; the next run sends them" in md["message"]
    assert not any("403" in str(w.get("results")) for w in sandbox.writes("salesforce"))


# --------------------------------------------------------------------------- invalid rows, nulls

def test_invalid_rows_are_counted_logged_and_never_sent(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    rows = account_rows(crm, 20)
    rows.loc[1, "account_id"] = None  # null key
    rows.loc[3, "account_id"] = "   "  # a blank key is a null key too
    rows.loc[4, "salesforce_account_id"] = None  # not in Salesforce: update never creates
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    md = metadata(materialize(spec, resources))
    assert (md["invalid"], md["sent"]) == (3, 17)
    reasons = {r["reason"].split(":")[0] for r in md["invalid_sample"]}
    assert reasons == {"null key (account_id)", "null salesforce_account_id"}
    sent = {r["Id"] for w in sandbox.writes("salesforce") for r in w["records"]}
    assert crm.sf_id[account_id(3)] not in sent and crm.sf_id[account_id(4)] not in sent
    log = warehouse.query(f"select count(*) n from {LOG_TABLE} where outcome = 'invalid'")
    assert log["n"][0] == 3


def test_skip_nulls_leaves_the_crm_field_clear_nulls_empties_it(sandbox, crm, warehouse, resources):
    rows = account_rows(crm, 10)
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    metadata(materialize(spec_of("account_health"), resources))
    rows.loc[1, "top_dropping_component"] = None
    rows.loc[2, "usage_health_band"] = None
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    skip = spec_of("account_health", nulls="skip")
    # Switching null handling changes payloads (the nulls leave them): all but the 2 rows with no null are owed.
    metadata(materialize(skip, resources))
    assert crm.account(crm.sf_id[account_id(1)])["Top_Dropping_Component__c"] == "reports"  # left as it was
    assert crm.account(crm.sf_id[account_id(2)])["Usage_Health_Band__c"] is not None
    metadata(materialize(spec_of("account_health"), resources))  # nulls: clear
    assert crm.account(crm.sf_id[account_id(1)])["Top_Dropping_Component__c"] is None
    assert crm.account(crm.sf_id[account_id(2)])["Usage_Health_Band__c"] is None


# --------------------------------------------------------------------------- guards, dry run

def test_mass_change_guard_aborts_naming_counts_and_override_lets_one_run_through(
        sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    assert materialize(spec, resources).success
    # A bug that blanks every band (the scores themselves still there).
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm).assign(usage_health_band=None))
    writes = len(sandbox.writes())
    result = materialize(spec, resources)
    assert not result.success
    md = metadata(result)
    assert "the plan would change 300 of 300 previously synced records (100%, above max_change_share 50%)" \
        in md["error"]
    assert md["guard_decision"].startswith("aborted") and md["sent"] == 0
    assert len(sandbox.writes()) == writes  # nothing sent

    md = metadata(materialize(spec, resources, override_guards=True))
    assert md["guard_decision"].startswith("overridden") and md["succeeded"] == 300
    # The override was for one run: the next implausible change is refused again.
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, score_shift=-20.0))
    assert not materialize(spec, resources).success


def test_daily_score_drift_on_every_account_passes_the_guard(sandbox, crm, warehouse, resources):
    """account_health counts band, flag and link changes toward max_change_share
    (`change_fields`, as shipped): scores that move a little on every account
    each day are the normal case, not a bug, and go through."""
    shipped = yaml.safe_load((PROJECT_ROOT / "cs_platform/defs/activation/syncs/defs.yaml").read_text())
    guards = next(s for s in shipped["attributes"]["syncs"] if s["name"] == "account_health")["guards"]
    spec = spec_of("account_health", guards=guards)
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    assert materialize(spec, resources).success
    drifted = account_rows(crm, score_shift=0.3)
    drifted["usage_health_band"] = account_rows(crm)["usage_health_band"]  # no band crossed
    drifted["usage_health_change_28d"] += 0.7
    write_model(warehouse, ACCOUNTS_TABLE, drifted)
    md = metadata(materialize(spec, resources))
    assert md["guard_decision"].startswith("passed"), md["guard_decision"]
    assert md["succeeded"] == 300


def test_shrink_guard_refuses_an_empty_model(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle")
    write_model(warehouse, COMPANIES_TABLE, company_rows(300))
    assert materialize(spec, resources).success
    write_model(warehouse, COMPANIES_TABLE, company_rows(0))
    result = materialize(spec, resources)
    assert not result.success
    assert ("the source model has 0 rows, down from 300 at the last sync (100% fewer, above max_shrink_share 20%)"
            in metadata(result)["error"])
    write_model(warehouse, COMPANIES_TABLE, company_rows(200))  # still a third fewer than the last good run
    assert "down from 300" in metadata(materialize(spec, resources))["error"]


def test_dry_run_sends_nothing_and_records_the_plan(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))
    assert materialize(spec, resources).success
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, changed={1, 2}))
    writes = len(sandbox.writes())
    result = materialize(spec, resources, dry_run=True)
    assert result.success
    assert not result.asset_materializations_for_node(spec.op_name)  # an observation, not a materialization
    md = metadata(result)
    assert (md["dry_run"], md["outcome"], md["planned"], md["unchanged"], md["sent"]) == (True, "dry_run", 2, 298, 0)
    assert "| PA-00001 | update | Usage_Health_Score__c | 47.0 | 48.5 |" in md["changes_sample"]
    assert len(sandbox.writes()) == writes  # only the preflight's reads (login, describe): nothing written...
    # ...and nothing was recorded: the real run still owes the same 2 records.
    assert metadata(materialize(spec, resources))["sent"] == 2

    # A dry run of an implausible change says the real run would refuse, without failing itself.
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, score_shift=-20.0))
    md = metadata(materialize(spec, resources, dry_run=True))
    assert md["guard_decision"].startswith("aborted") and "a real run would abort" in md["message"]


def test_sync_log_records_every_outcome(sandbox, crm, warehouse, resources):
    spec = spec_of("renewal_risk_tasks")
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(4)))
    metadata(materialize(spec, resources))
    log = warehouse.query(f"select * from {LOG_TABLE} where sync = 'renewal_risk_tasks'")
    assert len(log) == 4 and set(log["outcome"]) == {"success"} and log["created"].all()
    tasks = {t["CS_External_Id__c"]: t["Id"] for t in crm.tasks()}
    assert dict(zip(log["record_key"], log["destination_id"])) == tasks
    assert pd.notna(log["payload_hash"]).all()
