"""A sync process killed mid-run (a real subprocess, SIGKILL) and then rerun: every
Account is updated exactly once and no Task is created twice.

The kill lands while a batch is inside the sandbox (held by injected latency): the
sandbox applies it after the client is gone, so the client never learns the
answer. The rerun finds that batch recorded as in flight, asks Salesforce (a SOQL
read) whether its values are already there, and does not send it again.

The same holds for a Bulk API 2.0 job killed mid-poll (the sandbox completes it
on its timer; the rerun finds its 100 Accounts in place) and for a HubSpot
`batch/update` (the rerun asks with `batch/read`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import yaml

from cs_platform.activation.destinations.hubspot import wire
from cs_platform.activation.state import LOG_TABLE, STATE_TABLE
from tests.activation.support import (
    ACCOUNTS_TABLE,
    COMPANIES_TABLE,
    TASKS_TABLE,
    account_rows,
    company_rows,
    component_file,
    syncs_doc,
    task_rows,
    write_model,
)

LATENCY_MS = 400


def _env(sandbox, tmp_path, warehouse) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "CS_PLATFORM_ENV")}
    env.update(sandbox.env())
    env.update(DUCKDB_PATH=warehouse.path, CS_PLATFORM_DATA_DIR=str(tmp_path / "data"))
    return env


def _run(args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cs_platform.activation", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_call(sandbox, route: str, calls: int, proc: subprocess.Popen, timeout: float = 60,
                   api: str = "salesforce") -> None:
    """Wait (the sync still running) until its `calls`-th `route` call has reached the sandbox."""
    deadline = time.monotonic() + timeout
    while sandbox.calls(api)["routes"].get(route, 0) < calls:
        assert proc.poll() is None, f"the sync ended before it was killed:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "the sync never reached the batch to kill it in"
        time.sleep(0.005)


def _kill_when(sandbox, route: str, calls: int, proc: subprocess.Popen, timeout: float = 60,
               api: str = "salesforce") -> None:
    """SIGKILL the sync as soon as its `calls`-th write call has reached the sandbox."""
    _wait_for_call(sandbox, route, calls, proc, timeout, api)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _wait_for_writes(sandbox, object: str, n: int, timeout: float = 10, api: str = "salesforce") -> None:
    """The killed batch is still inside the sandbox: wait until it has been applied."""
    deadline = time.monotonic() + timeout
    while len(sandbox.writes(api, object)) < n:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_killed_account_sync_rerun_updates_each_account_once(sandbox, crm, warehouse, tmp_path):
    syncs = tmp_path / "defs.yaml"
    doc = syncs_doc(account_health={"salesforce": {"batch_size": 50}, "checkpoint_records": 50})
    syncs.write_text(yaml.safe_dump(component_file(doc)))
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))  # 300 accounts: 6 batches of 50
    env = _env(sandbox, tmp_path, warehouse)
    route = "PATCH /composite/sobjects"
    sandbox.add_fault(route="composite/sobjects", latency_ms=LATENCY_MS)

    proc = _run(["account_health", "--syncs", str(syncs)], env)
    _kill_when(sandbox, route, 3, proc)  # batch 3 is inside the sandbox, its answer never read
    _wait_for_writes(sandbox, "Account", 3)
    sandbox.clear_faults()
    state = warehouse.query(f"select status, count(*) n from {STATE_TABLE} group by status")
    assert dict(zip(state["status"], state["n"])) == {"synced": 100, "in_flight": 50}

    rerun = subprocess.run([sys.executable, "-m", "cs_platform.activation", "run", "account_health",
                            "--syncs", str(syncs)], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = yaml.safe_load(rerun.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["succeeded"], summary["unchanged"]) == (150, 150, 150)

    updates = Counter(r["Id"] for w in sandbox.writes("salesforce", "Account") for r in w["records"])
    assert len(updates) == 300 and set(updates.values()) == {1}  # every Account updated exactly once
    assert sandbox.calls("salesforce")["routes"][route] == 3 + 3
    reconciled = warehouse.query(f"select count(*) n from {LOG_TABLE} where outcome = 'reconciled'")
    assert reconciled["n"][0] == 50
    assert set(warehouse.query(f"select status from {STATE_TABLE}")["status"]) == {"synced"}
    rows = account_rows(crm).set_index("account_id")
    for acct in sandbox.records("salesforce/Account"):
        assert acct["Usage_Health_Score__c"] == rows.loc[acct["Product_Account_Id__c"], "usage_health_score"]


def test_killed_task_sync_rerun_creates_no_duplicate_task(sandbox, crm, warehouse, tmp_path):
    syncs = tmp_path / "defs.yaml"
    doc = syncs_doc(renewal_risk_tasks={"salesforce": {"batch_size": 20}, "checkpoint_records": 20})
    syncs.write_text(yaml.safe_dump(component_file(doc)))
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(100)))  # 5 batches of 20
    env = _env(sandbox, tmp_path, warehouse)
    route = "PATCH /composite/sobjects/Task/CS_External_Id__c"
    sandbox.add_fault(route="composite/sobjects", latency_ms=LATENCY_MS)

    proc = _run(["renewal_risk_tasks", "--syncs", str(syncs)], env)
    _kill_when(sandbox, route, 2, proc)
    _wait_for_writes(sandbox, "Task", 2)
    sandbox.clear_faults()

    rerun = subprocess.run([sys.executable, "-m", "cs_platform.activation", "run", "renewal_risk_tasks",
                            "--syncs", str(syncs)], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    tasks = Counter(t["CS_External_Id__c"] for t in crm.tasks())
    assert len(tasks) == 100 and set(tasks.values()) == {1}  # no duplicate Task
    sent = Counter(r["CS_External_Id__c"] for w in sandbox.writes("salesforce", "Task") for r in w["records"])
    assert set(sent.values()) == {1}  # and none was even sent twice


def _rerun(sync: str, syncs, env) -> dict:
    rerun = subprocess.run([sys.executable, "-m", "cs_platform.activation", "run", sync, "--syncs", str(syncs)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    return yaml.safe_load(rerun.stdout.strip().splitlines()[-1])


def test_killed_bulk_account_sync_rerun_updates_each_account_once(sandbox, crm, warehouse, tmp_path):
    syncs = tmp_path / "defs.yaml"
    doc = syncs_doc(account_health={"salesforce": {"bulk_threshold": 100, "bulk_job_size": 100},
                                    "checkpoint_records": 100})
    syncs.write_text(yaml.safe_dump(component_file(doc)))
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm))  # 300 accounts: 3 Bulk jobs of 100
    env = _env(sandbox, tmp_path, warehouse)
    close, status = "PATCH /jobs/ingest/<id>", "GET /jobs/ingest/<id>"
    sandbox.add_fault(route=f"^{status}$", latency_ms=LATENCY_MS)  # every status poll is held in the sandbox

    proc = _run(["account_health", "--syncs", str(syncs)], env)
    _wait_for_call(sandbox, close, 2, proc)  # job 2 closed: it runs (and is applied) on the sandbox's timer
    polls = sandbox.calls("salesforce")["routes"].get(status, 0)  # job 1's, all answered (one job at a time)
    _kill_when(sandbox, status, polls + 1, proc)  # mid-poll on job 2: its outcome never read
    routes = sandbox.calls("salesforce")["routes"]
    assert routes[close] == 2 and routes["POST /jobs/ingest"] == 2
    _wait_for_writes(sandbox, "Account", 2)  # job 2 applied after its client was gone
    sandbox.clear_faults()
    jobs = sandbox.writes("salesforce", "Account")
    assert [w["operation"] for w in jobs] == ["bulk2.update"] * 2 and [len(w["records"]) for w in jobs] == [100] * 2
    state = warehouse.query(f"select status, count(*) n from {STATE_TABLE} group by status")
    assert dict(zip(state["status"], state["n"])) == {"synced": 100, "in_flight": 100}

    summary = _rerun("account_health", syncs, env)
    assert (summary["sent"], summary["succeeded"], summary["unchanged"]) == (100, 100, 200)

    writes = sandbox.writes("salesforce", "Account")
    assert {w["operation"] for w in writes} == {"bulk2.update"} and len(writes) == 3  # the rerun: one job
    updates = Counter(r["Id"] for w in writes for r in w["records"])
    assert len(updates) == 300 and set(updates.values()) == {1}  # every Account updated exactly once
    routes = sandbox.calls("salesforce")["routes"]
    assert (routes["POST /jobs/ingest"], routes[close]) == (3, 3)
    reconciled = warehouse.query(f"select count(*) n from {LOG_TABLE} where outcome = 'reconciled'")
    assert reconciled["n"][0] == 100
    assert set(warehouse.query(f"select status from {STATE_TABLE}")["status"]) == {"synced"}
    fields = next(s for s in doc["syncs"] if s["name"] == "account_health")["fields"]
    rows = account_rows(crm).set_index("account_id")
    for acct in sandbox.records("salesforce/Account"):
        row = rows.loc[acct["Product_Account_Id__c"]]
        for column, field in fields.items():
            assert acct[field] == row[column], (acct["Product_Account_Id__c"], field, acct[field], row[column])


def test_killed_hubspot_company_sync_rerun_updates_each_company_once(sandbox, crm, warehouse, tmp_path):
    syncs = tmp_path / "defs.yaml"
    doc = syncs_doc(company_lifecycle={"hubspot": {"batch_size": 50, "max_concurrent_requests": 1},
                                       "checkpoint_records": 50})
    syncs.write_text(yaml.safe_dump(component_file(doc)))
    model = company_rows(300)  # 6 batches of 50, one at a time
    write_model(warehouse, COMPANIES_TABLE, model)
    env = _env(sandbox, tmp_path, warehouse)
    route = "POST /crm/v3/objects/companies/batch/update"
    sandbox.add_fault(route="batch/update", latency_ms=LATENCY_MS)

    proc = _run(["company_lifecycle", "--syncs", str(syncs)], env)
    _kill_when(sandbox, route, 3, proc, api="hubspot")  # batch 3 is inside the sandbox, its answer never read
    _wait_for_writes(sandbox, "companies", 3, api="hubspot")
    sandbox.clear_faults()
    state = warehouse.query(f"select status, count(*) n from {STATE_TABLE} group by status")
    assert dict(zip(state["status"], state["n"])) == {"synced": 100, "in_flight": 50}

    summary = _rerun("company_lifecycle", syncs, env)
    assert (summary["sent"], summary["succeeded"], summary["unchanged"]) == (150, 150, 150)

    writes = sandbox.writes("hubspot", "companies")
    assert {w["operation"] for w in writes} == {"update"}
    updates = Counter(i["id"] for w in writes for i in w["records"])
    assert len(updates) == 300 and set(updates.values()) == {1}  # every company updated exactly once
    assert {i["idProperty"] for w in writes for i in w["records"]} == {"product_account_id"}
    assert sandbox.calls("hubspot")["routes"][route] == 3 + 3
    reconciled = warehouse.query(f"select count(*) n from {LOG_TABLE} where outcome = 'reconciled'")
    assert reconciled["n"][0] == 50
    assert set(warehouse.query(f"select status from {STATE_TABLE}")["status"]) == {"synced"}
    fields = next(s for s in doc["syncs"] if s["name"] == "company_lifecycle")["fields"]
    companies = crm.companies()
    assert len(companies) == 300
    for row in model.to_dict("records"):
        props = companies[row["product_account_id"]]
        for column, prop in fields.items():
            assert props.get(prop) == wire(row[column]), (row["product_account_id"], prop, props.get(prop))
