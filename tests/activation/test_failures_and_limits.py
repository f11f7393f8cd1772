"""Failures that must neither pass silently nor repeat forever, and limits that
must hold (issue 13): per-record failures as a check and dead letters, HubSpot's
daily budget, a poison-pill value isolated, mass creates guarded, one run of a
sync at a time, and a timeout on every Salesforce call."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from cs_platform.activation.destinations import connect
from cs_platform.activation.engine import run_sync
from cs_platform.resources.salesforce import SalesforceResource
from tests.activation.support import (
    ACCOUNT_COLUMNS,
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


def _failure(result) -> str:
    """The step's failure message: what the run-failure alert posts."""
    return next(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


def _checks(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


# --------------------------------------------------------------------------- 5. per-record failures

def test_record_failures_warn_fail_the_run_and_a_repeated_refusal_becomes_a_dead_letter(
        sandbox, crm, warehouse, resources):
    spec = spec_of("account_health")  # record_failures: warn above 0%, fail above 10%, dead letter after 3
    rows = account_rows(crm)
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    bad = crm.sf_id[account_id(5)]
    sandbox.add_fault(route="composite/sobjects", partial_failures=[bad],
                      partial_failure_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                      partial_failure_message="Score must be set by the integration user")
    result = materialize(spec, resources)
    assert result.success  # 1 of 300: a warning
    check = _checks(result)["record_failures"]
    assert not check.passed and check.severity.value == "WARN"
    assert "PA-00005: FIELD_CUSTOM_VALIDATION_EXCEPTION Score must be set" in check.description

    # Refused twice more with the same payload: then it is a dead letter, not sent again.
    for _ in range(2):
        assert metadata(materialize(spec, resources))["sent"] == 1
    md = metadata(materialize(spec, resources))
    assert (md["planned"], md["sent"], md["dead_letter"], md["api_calls"]) == (0, 0, 1, 0)
    assert md["dead_letter_sample"][0]["key"] == "PA-00005"
    # A new payload for it is sent again.
    rows.loc[5, "usage_health_score"] = 99.0
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    assert metadata(materialize(spec, resources))["sent"] == 1

    # Above error_share the check fails and so does the run, naming the first records.
    sandbox.clear_faults()
    refused = [crm.sf_id[account_id(i)] for i in range(100, 140)]
    sandbox.add_fault(route="composite/sobjects", partial_failures=refused,
                      partial_failure_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    rows.loc[100:139, "usage_health_score"] = 12.0
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    result = materialize(spec, resources)
    assert not result.success
    check = _checks(result)["record_failures"]
    assert not check.passed and check.severity.value == "ERROR"
    error = _failure(result)
    assert "40 records were refused (13% of the model's 300 rows; 40 sent this run)" in error
    assert "PA-00100: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in error


# --------------------------------------------------------------------------- 6. HubSpot's daily budget

@pytest.mark.sandbox(hubspot_daily_limit=10)
def test_hubspot_stops_before_the_daily_budget_is_spent(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle", hubspot={"batch_size": 20}, checkpoint_records=20)
    write_model(warehouse, COMPANIES_TABLE, company_rows(300))
    md = metadata(materialize(spec, resources))
    assert md["outcome"] == "stopped_api_budget"
    assert md["sent"] + md["deferred"] == 300 and md["deferred"] > 0
    assert sandbox.calls("hubspot")["total"] <= 8  # 80% of the portal's 10 daily calls: never a 429
    assert "daily API usage" in md["message"]


# --------------------------------------------------------------------------- 9. a poison pill

def test_a_value_that_makes_salesforce_refuse_the_whole_call_is_isolated(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health", salesforce={"batch_size": 50})
    rows = account_rows(crm)
    rows["usage_health_score"] = rows["usage_health_score"].map(lambda v: f"{v:.1f}")  # a text column
    rows.loc[10, "usage_health_score"] = "n/a"
    warehouse.write(ACCOUNTS_TABLE, rows, {**ACCOUNT_COLUMNS, "usage_health_score": "string"}, replace_all=True)
    result = materialize(spec, resources)
    assert result.success
    md = metadata(result)
    assert (md["succeeded"], md["failed"]) == (299, 1)
    assert md["failed_sample"][0]["key"] == "PA-00010" and md["failed_sample"][0]["error_code"] == "JSON_PARSER_ERROR"
    assert 0 < md["split_calls"] <= 2 * 6  # two calls per halving of 50 down to 1
    assert crm.account(crm.sf_id[account_id(11)])["Usage_Health_Score__c"] == float(rows.loc[11, "usage_health_score"])
    assert crm.account(crm.sf_id[account_id(299)])["Usage_Health_Score__c"] is not None


# --------------------------------------------------------------------------- 10. mass creates

def test_a_plan_of_only_new_records_is_refused(sandbox, crm, warehouse, resources):
    spec = spec_of("renewal_risk_tasks")
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(24)))
    assert metadata(materialize(spec, resources))["created"] == 24
    renamed = task_rows(crm, range(24))
    renamed["task_key"] = renamed["task_key"].str.replace("renewal_risk:", "renewal-risk/")  # a key-format change
    write_model(warehouse, TASKS_TABLE, renamed)
    result = materialize(spec, resources)
    assert not result.success
    assert "24 records never synced before, against 24 model rows at the last sync" in metadata(result)["error"]
    assert len(crm.tasks()) == 24  # no duplicate open Task
    # Growth is normal: a few new at-risk accounts a day pass.
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(30)))
    assert metadata(materialize(spec, resources))["created"] == 6


# --------------------------------------------------------------------------- 11. one run at a time

def test_two_runs_of_one_sync_at_once_write_each_record_once(sandbox, crm, warehouse, resources):
    spec = spec_of("account_health", salesforce={"batch_size": 20}, checkpoint_records=20)
    rows = account_rows(crm)
    write_model(warehouse, ACCOUNTS_TABLE, rows)
    assert materialize(spec, resources).success
    changed = set(range(0, 300, 3))
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, changed=changed))
    before = len(sandbox.writes("salesforce", "Account"))
    sandbox.add_fault(route="composite/sobjects", latency_ms=150)
    outcomes, errors = {}, []

    def run(name: str) -> None:
        try:
            outcomes[name] = run_sync(spec, warehouse, lambda: connect(spec, resources["salesforce"]),
                                      table=ACCOUNTS_TABLE, run_id=name)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # A sensor, a schedule and a manual launch starting the same sync together.
    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sorted(o.sent for o in outcomes.values()) == [0, 100]  # the second waited, then had nothing to do
    updates = Counter(r["Id"] for w in sandbox.writes("salesforce", "Account")[before:] for r in w["records"])
    assert len(updates) == 100 and set(updates.values()) == {1}
    assert warehouse.row_count("activation.sync_leases") == 0  # released


# --------------------------------------------------------------------------- 12. timeouts

def test_a_held_salesforce_call_times_out(sandbox, crm, warehouse):
    env = sandbox.env()
    salesforce = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                                    client_secret=env["SALESFORCE_CLIENT_SECRET"],
                                    ca_bundle=env["SALESFORCE_CA_BUNDLE"], retry_backoff_seconds=0.01,
                                    timeout_seconds=0.5)
    spec = spec_of("account_health")
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, 10))
    sandbox.add_fault(route="composite/sobjects", latency_ms=3000)
    result = materialize(spec, {"warehouse": warehouse, "salesforce": salesforce})
    assert not result.success
    assert "timed out" in metadata(result)["error"].lower()
