"""The other modes against the sandbox: upsert (creates and updates, on both
destinations and through Bulk), insert, and update never creating a record."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from cs_platform.activation.config import parse_syncs
from tests.activation.support import (
    CSM_IDS,
    TASKS_TABLE,
    account_id,
    materialize,
    metadata,
    spec_of,
    task_rows,
    write_model,
)

PROSPECTS_TABLE = "marts.prospects"
PROSPECT_COLUMNS = {"account_id": "string", "name": "string", "band": "string"}


def prospect_spec(destination: str, mode: str, **extra):
    if destination == "salesforce":
        sync = {"object": "Account", "key": {"column": "account_id", "field": "Product_Account_Id__c"},
                "fields": {"name": "Name", "band": "Usage_Health_Band__c"},
                "salesforce": {"bulk_poll_seconds": 0.05}}
    else:
        sync = {"object": "companies", "key": {"column": "account_id", "field": "product_account_id"},
                "fields": {"name": "name", "band": "cs_usage_health_band"}}
    sync.update(name=f"prospects_{destination}_{mode}", model="prospects", table=PROSPECTS_TABLE,
                destination=destination, mode=mode, **extra)
    return parse_syncs({"syncs": [sync]})[0]


def prospects(ids, band="green") -> pd.DataFrame:
    return pd.DataFrame([{"account_id": account_id(i), "name": f"Customer {i}", "band": band} for i in ids])


def test_salesforce_upsert_creates_new_and_updates_existing_by_external_id(sandbox, crm, warehouse, resources):
    spec = prospect_spec("salesforce", "upsert")
    warehouse.write(PROSPECTS_TABLE, prospects(range(290, 310)), PROSPECT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["created"], md["updated"]) == (20, 10, 10)  # 300..309 are new
    by_ext = Counter(a["Product_Account_Id__c"] for a in sandbox.records("salesforce/Account"))
    assert len(by_ext) == 310 and set(by_ext.values()) == {1}


def test_salesforce_bulk_upsert_of_tasks_creates_once(sandbox, crm, warehouse, resources):
    spec = spec_of("renewal_risk_tasks", salesforce={"bulk_threshold": 10})
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(40)))
    md = metadata(materialize(spec, resources))
    assert (md["batches"], md["created"]) == ({"bulk2": 1}, 40)
    tasks = crm.tasks()
    assert len(tasks) == 40 and {t["ActivityDate"] for t in tasks} == {"2026-06-15"}
    assert {t["OwnerId"] for t in tasks} == set(CSM_IDS)


def test_hubspot_upsert_creates_companies_it_does_not_know(sandbox, crm, warehouse, resources):
    spec = prospect_spec("hubspot", "upsert")
    warehouse.write(PROSPECTS_TABLE, prospects(range(295, 305)), PROSPECT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["created"], md["updated"]) == (10, 5, 5)
    assert crm.companies()[account_id(304)]["cs_usage_health_band"] == "green"


def test_update_mode_never_creates(sandbox, crm, warehouse, resources):
    spec = prospect_spec("hubspot", "update")
    warehouse.write(PROSPECTS_TABLE, prospects(range(298, 302)), PROSPECT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["failed"]) == (2, 2)
    assert {f["error_code"] for f in md["failed_sample"]} == {"OBJECT_NOT_FOUND"}
    assert account_id(300) not in crm.companies()


def test_insert_mode_creates_each_key_once(sandbox, crm, warehouse, resources):
    spec = prospect_spec("hubspot", "insert")
    warehouse.write(PROSPECTS_TABLE, prospects(range(1000, 1005)), PROSPECT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["succeeded"], md["created"]) == (5, 5)
    warehouse.write(PROSPECTS_TABLE, prospects(range(1000, 1006), band="red"), PROSPECT_COLUMNS, replace_all=True)
    md = metadata(materialize(spec, resources))
    assert (md["sent"], md["created"], md["unchanged"]) == (1, 1, 5)  # only the new key; never an update
    made = Counter(c["properties"].get("product_account_id") for c in sandbox.records("hubspot/companies"))
    assert all(made[account_id(i)] == 1 for i in range(1000, 1006))
    assert crm.companies()[account_id(1000)]["cs_usage_health_band"] == "green"
