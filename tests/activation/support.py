"""Fixtures for the reverse-ETL tests: a real sandbox (Salesforce over TLS, HubSpot)
seeded with CRM records, a DuckDB warehouse in tmp holding the activation models'
tables (written directly, so the tests do not depend on dbt), and sync specs
declared the way the shipped SyncComponent (defs/activation/syncs/defs.yaml) declares them."""

from __future__ import annotations

import copy

import dagster as dg
import pandas as pd
import pytest

from cs_platform.activation.assets import build_sync_asset
from cs_platform.activation.component import parse_syncs
from cs_platform.resources.hubspot import HubSpotResource
from cs_platform.resources.salesforce import SalesforceResource
from cs_platform.resources.warehouse import DuckDBWarehouse
from devkit.sandbox import Sandbox
from devkit.sandbox.salesforce import salesforce_id

ACCOUNTS_TABLE = "marts.activation_salesforce_accounts"
COMPANIES_TABLE = "marts.activation_hubspot_companies"
TASKS_TABLE = "marts.activation_salesforce_renewal_risk_tasks"

ACCOUNT_COLUMNS = {
    "account_id": "string", "salesforce_account_id": "string", "usage_health_score": "float",
    "usage_health_band": "string", "renewal_likelihood_score": "float", "renewal_likelihood_band": "string",
    "usage_health_change_28d": "float", "top_dropping_component": "string", "is_renewal_risk": "boolean",
    "has_upsell_signal": "boolean", "report_url": "string",
}
COMPANY_COLUMNS = {
    "product_account_id": "string", "usage_health_band": "string", "renewal_likelihood_band": "string",
    "is_renewal_risk": "boolean", "has_upsell_signal": "boolean", "is_setup_incomplete": "boolean",
    "renews_within_90_days": "boolean",
}
TASK_COLUMNS = {
    "task_key": "string", "salesforce_account_id": "string", "owner_id": "string", "subject": "string",
    "due_date": "date", "priority": "string", "description": "string",
}

# The shipped syncs, with explicit tables (no dbt manifest in these tests), no schedule and fast Bulk polling.
FAST_BULK = {"bulk_poll_seconds": 0.05}
SYNCS_DOC = {
    "syncs": [
        {"name": "account_health", "model": "activation_salesforce_accounts", "table": ACCOUNTS_TABLE,
         "destination": "salesforce", "object": "Account", "mode": "update",
         "key": {"column": "account_id", "field": "Product_Account_Id__c"},
         "record_id": "salesforce_account_id", "nulls": "clear", "salesforce": FAST_BULK,
         "fields": {"usage_health_score": "Usage_Health_Score__c", "usage_health_band": "Usage_Health_Band__c",
                    "renewal_likelihood_score": "Renewal_Likelihood_Score__c",
                    "renewal_likelihood_band": "Renewal_Likelihood_Band__c",
                    "usage_health_change_28d": "Usage_Health_Change_28d__c",
                    "top_dropping_component": "Top_Dropping_Component__c",
                    "is_renewal_risk": "Renewal_Risk__c", "has_upsell_signal": "Upsell_Signal__c",
                    "report_url": "CS_Report_URL__c"}},
        {"name": "company_lifecycle", "model": "activation_hubspot_companies", "table": COMPANIES_TABLE,
         "destination": "hubspot", "object": "companies", "mode": "update",
         "key": {"column": "product_account_id", "field": "product_account_id"}, "nulls": "clear",
         "fields": {"usage_health_band": "cs_usage_health_band",
                    "renewal_likelihood_band": "cs_renewal_likelihood_band",
                    "is_renewal_risk": "cs_is_renewal_risk", "has_upsell_signal": "cs_has_upsell_signal",
                    "is_setup_incomplete": "cs_is_setup_incomplete",
                    "renews_within_90_days": "cs_renews_within_90_days"}},
        {"name": "renewal_risk_tasks", "model": "activation_salesforce_renewal_risk_tasks", "table": TASKS_TABLE,
         "destination": "salesforce", "object": "Task", "mode": "create_once",
         "key": {"column": "task_key", "field": "CS_External_Id__c"},
         "fields": {"salesforce_account_id": "WhatId", "owner_id": "OwnerId", "subject": "Subject",
                    "due_date": "ActivityDate", "priority": "Priority", "description": "Description"},
         "constants": {"Status": "Not Started"}, "guards": {"max_shrink_share": 1.0}, "salesforce": FAST_BULK},
    ],
}

CSM_IDS = [salesforce_id("005", 900 + i) for i in range(3)]


def syncs_doc(**overrides) -> dict:
    """SYNCS_DOC with per-sync overrides: syncs_doc(account_health={"salesforce": {...}})."""
    doc = copy.deepcopy(SYNCS_DOC)
    for sync in doc["syncs"]:
        for key, value in overrides.get(sync["name"], {}).items():
            if isinstance(value, dict) and isinstance(sync.get(key), dict):
                sync[key] = {**sync[key], **value}
            else:
                sync[key] = value
    return doc


def component_file(doc: dict) -> dict:
    """A SyncComponent `defs.yaml` document holding the syncs of `doc`."""
    return {"type": "cs_platform.activation.component.SyncComponent", "attributes": doc}


def spec_of(name: str, **overrides):
    return next(s for s in parse_syncs(syncs_doc(**{name: overrides})) if s.name == name)


def account_id(i: int) -> str:
    return f"PA-{i:05d}"


class Crm:
    """The sandbox seeded with CSM users, Accounts and HubSpot companies."""

    def __init__(self, sandbox: Sandbox, n_accounts: int):
        self.sandbox = sandbox
        sandbox.mutate("salesforce/User", "insert", [
            {"Id": uid, "Name": f"CSM {i}", "Email": f"csm{i}@example.com", "IsActive": True}
            for i, uid in enumerate(CSM_IDS)])
        self.accounts = sandbox.mutate("salesforce/Account", "insert", [
            {"Name": f"Customer {i}", "Product_Account_Id__c": account_id(i), "OwnerId": CSM_IDS[i % 3]}
            for i in range(n_accounts)])
        self.sf_id = {a["Product_Account_Id__c"]: a["Id"] for a in self.accounts}
        sandbox.mutate("hubspot/companies", "insert", [
            {"properties": {"name": f"Customer {i}", "product_account_id": account_id(i)}}
            for i in range(n_accounts)])
        self.start_seq = len(sandbox.writes())

    def account(self, sf_id: str) -> dict:
        return self.sandbox.records("salesforce/Account", sf_id)[0]

    def companies(self) -> dict[str, dict]:
        return {c["properties"].get("product_account_id"): c["properties"]
                for c in self.sandbox.records("hubspot/companies")}

    def tasks(self) -> list[dict]:
        return [t for t in self.sandbox.records("salesforce/Task") if t.get("CS_External_Id__c")]

    def write_calls(self, api: str) -> int:
        routes = self.sandbox.calls(api)["routes"]
        return sum(n for route, n in routes.items()
                   if route.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE") and "oauth2" not in route)


@pytest.fixture
def sandbox(request):
    """A fresh sandbox per test; `@pytest.mark.sandbox(salesforce_api_limit=...)` passes options."""
    marker = request.node.get_closest_marker("sandbox")
    with Sandbox(None, seed=7, **(marker.kwargs if marker else {})) as sb:
        yield sb


@pytest.fixture
def crm(sandbox) -> Crm:
    return Crm(sandbox, n_accounts=300)


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def resources(sandbox, warehouse) -> dict:
    env = sandbox.env()
    return {
        "warehouse": warehouse,
        "salesforce": SalesforceResource(
            login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
            client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SALESFORCE_CA_BUNDLE"],
            retry_backoff_seconds=0.01),
        "hubspot": HubSpotResource(base_url=env["HUBSPOT_BASE_URL"], access_token=env["HUBSPOT_ACCESS_TOKEN"],
                                   retry_backoff_seconds=0.01),
    }


def account_rows(crm: Crm, n: int | None = None, *, score_shift: float = 0.0,
                 changed: set[int] = frozenset()) -> pd.DataFrame:
    n = len(crm.accounts) if n is None else n
    rows = []
    for i in range(n):
        score = round(40 + (i * 7) % 55 + score_shift + (1.5 if i in changed else 0.0), 1)
        rows.append({
            "account_id": account_id(i), "salesforce_account_id": crm.sf_id[account_id(i)],
            "usage_health_score": score,
            "usage_health_band": "green" if score >= 70 else "yellow" if score >= 50 else "red",
            "renewal_likelihood_score": round(score * 0.9, 1),
            "renewal_likelihood_band": "likely" if score >= 60 else "at_risk",
            "usage_health_change_28d": round(-3.0 + i % 7, 1),
            "top_dropping_component": None if i % 5 == 0 else ["logins", "reports", "integrations"][i % 3],
            "is_renewal_risk": score < 50, "has_upsell_signal": score > 85,
            "report_url": f"http://127.0.0.1:3000/reports/{account_id(i)}.html",
        })
    return pd.DataFrame(rows)


def company_rows(n: int, *, changed: set[int] = frozenset()) -> pd.DataFrame:
    return pd.DataFrame(columns=list(COMPANY_COLUMNS), data=[{
        "product_account_id": account_id(i),
        "usage_health_band": ("red" if i in changed else ["green", "yellow"][i % 2]),
        "renewal_likelihood_band": "likely" if i % 3 else "at_risk",
        "is_renewal_risk": i % 3 == 0, "has_upsell_signal": i % 7 == 0,
        "is_setup_incomplete": i % 4 == 0, "renews_within_90_days": i % 6 == 0,
    } for i in range(n)])


def task_rows(crm: Crm, indexes) -> pd.DataFrame:
    return pd.DataFrame([{
        "task_key": f"renewal_risk:{account_id(i)}:2026-06", "salesforce_account_id": crm.sf_id[account_id(i)],
        "owner_id": CSM_IDS[i % 3], "subject": f"Renewal risk: Customer {i}",
        "due_date": pd.Timestamp("2026-06-15"), "priority": "High",
        "description": "Usage health fell 12 points in 28 days; logins dropped most.",
    } for i in indexes])


def write_model(warehouse, table: str, df: pd.DataFrame) -> None:
    columns = {ACCOUNTS_TABLE: ACCOUNT_COLUMNS, COMPANIES_TABLE: COMPANY_COLUMNS, TASKS_TABLE: TASK_COLUMNS}[table]
    warehouse.write(table, df, columns, replace_all=True)


def materialize(spec, resources: dict, *, dry_run: bool = False, override_guards: bool = False,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_sync_asset(spec)],
        resources={"warehouse": resources["warehouse"], spec.destination: resources[spec.destination]},
        run_config={"ops": {spec.op_name: {"config": {"dry_run": dry_run, "override_guards": override_guards}}}},
        instance=instance, raise_on_error=False)


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The sync's materialization (or dry-run observation, or failure) metadata as plain values."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
        if event.event_type_value == "ASSET_OBSERVATION":
            return {k: v.value for k, v in event.event_specific_data.asset_observation.metadata.items()}
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            md = {k: v.value for k, v in (data.user_failure_data.metadata if data.user_failure_data else {}).items()}
            md["error"] = data.error.message if data.error else ""
            return md
    raise AssertionError("the run recorded neither a materialization, an observation nor a failure")


