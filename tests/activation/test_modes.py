"""The other modes against the sandbox: upsert (creates and updates, on both
destinations and through Bulk), insert, and update never creating a record."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from cs_platform.activation.component import parse_syncs
from cs_platform.activation.destinations.hubspot import wire
from cs_platform.activation.engine import payload_hash
from cs_platform.activation.state import SyncStore
from tests.activation.support import (
    ACCOUNTS_TABLE,
    COMPANIES_TABLE,
    CSM_IDS,
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


def _sent_bodies(sandbox, api: str, obj: str) -> list[dict]:
    """Each record body as the sandbox received it (envelopes stripped)."""
    bodies = []
    for write in sandbox.writes(api, obj):
        for record in write["records"]:
            record = dict(record)
            record.pop("attributes", None)  # Collections' sObject type envelope
            bodies.append(record.get("properties", record))  # HubSpot: the properties are the payload
    return bodies


def test_the_payload_hashed_is_the_payload_sent(sandbox, crm, warehouse, resources):
    """The destination builds the body; the engine hashes and stores that body, not a
    part of it: an update by Id sends the Id (not the key field), HubSpot sends the key
    property, and the state holds exactly what went over the wire."""
    for name, table, rows, api, obj in [
        ("account_health", ACCOUNTS_TABLE, account_rows(crm, 12), "salesforce", "Account"),
        ("company_lifecycle", COMPANIES_TABLE, company_rows(12), "hubspot", "companies"),
    ]:
        spec = spec_of(name)
        write_model(warehouse, table, rows)
        assert metadata(materialize(spec, resources))["succeeded"] == 12
        state = SyncStore(warehouse, name).load_state()
        stored = [st["synced_payload"] for st in state.values()]
        sent = _sent_bodies(sandbox, api, obj)
        if api == "hubspot":  # HubSpot properties go as text: compare in the wire form
            stored = [{k: wire(v) for k, v in p.items()} for p in stored]
        key = "Id" if api == "salesforce" else spec.key_field
        assert sorted(stored, key=lambda p: p[key]) == sorted(sent, key=lambda p: p[key])
        if api == "salesforce":
            assert all("Product_Account_Id__c" not in body for body in sent)  # update by Id
        for st in state.values():  # the hash covers that same body (and the record id, when there is one)
            payload = st["synced_payload"]
            assert st["synced_hash"] == payload_hash(payload.get("Id") if api == "salesforce" else None, payload)
