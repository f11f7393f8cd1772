"""A sync process killed mid-run (a real subprocess, SIGKILL) and then rerun: every
Account is updated exactly once and no Task is created twice.

The kill lands while a batch is inside the sandbox (held by injected latency): the
sandbox applies it after the client is gone, so the client never learns the
answer. The rerun finds that batch recorded as in flight, asks Salesforce (a SOQL
read) whether its values are already there, and does not send it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import yaml

from cs_platform.activation.state import LOG_TABLE, STATE_TABLE
from tests.activation.support import (
    ACCOUNTS_TABLE,
    TASKS_TABLE,
    account_rows,
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


def _kill_when(sandbox, route: str, calls: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGKILL the sync as soon as its `calls`-th write call has reached the sandbox."""
    deadline = time.monotonic() + timeout
    while sandbox.calls("salesforce")["routes"].get(route, 0) < calls:
        assert proc.poll() is None, f"the sync ended before it was killed:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "the sync never reached the batch to kill it in"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _wait_for_writes(sandbox, object: str, n: int, timeout: float = 10) -> None:
    """The killed batch is still inside the sandbox: wait until it has been applied."""
    deadline = time.monotonic() + timeout
    while len(sandbox.writes("salesforce", object)) < n:
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
