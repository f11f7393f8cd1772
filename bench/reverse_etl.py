"""Reverse ETL: API calls and wall time for 10,000 changed accounts, batched vs one
record per call, against the sandbox with injected latency on every call.

    .venv/bin/python bench/reverse_etl.py [--rows 10000] [--latency-ms 50] [--naive-sample 1000]

For each destination it runs the real sync engine (the shipped syncs' settings, defs/activation/syncs/defs.yaml:
Salesforce Account via Bulk API 2.0 above 2,000 rows, and via sObject Collections
for comparison; HubSpot companies via batch update), then the naive sync: one
REST call per record (PATCH /sobjects/Account/{Id}, PATCH /crm/v3/objects/companies/{id}).
The naive sync is timed on `--naive-sample` records and scaled to `--rows` (its
cost is one call per record, so it is linear); `--naive-sample 0` runs it on every
row. Figures to watch: the call ratio, and the batched calls against the minimum
possible, ceil(rows / batch size).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cs_platform.activation.component import load_syncs  # noqa: E402
from cs_platform.activation.destinations import connect  # noqa: E402
from cs_platform.activation.engine import run_sync  # noqa: E402
from cs_platform.resources.hubspot import HubSpotResource  # noqa: E402
from cs_platform.resources.salesforce import SalesforceResource  # noqa: E402
from cs_platform.resources.warehouse import DuckDBWarehouse  # noqa: E402
from devkit.sandbox import Sandbox  # noqa: E402
from devkit.sandbox.salesforce import salesforce_id  # noqa: E402

ACCOUNTS = "marts.activation_salesforce_accounts"
COMPANIES = "marts.activation_hubspot_companies"


ACCOUNT_COLUMNS = {
    "account_id": "string", "salesforce_account_id": "string", "usage_health_score": "float",
    "usage_health_band": "string", "renewal_likelihood_score": "float", "renewal_likelihood_band": "string",
    "usage_health_change_28d": "float", "top_dropping_component": "string", "is_renewal_risk": "boolean",
    "has_upsell_signal": "boolean", "report_url": "string"}
COMPANY_COLUMNS = {
    "product_account_id": "string", "usage_health_band": "string", "renewal_likelihood_band": "string",
    "is_renewal_risk": "boolean", "has_upsell_signal": "boolean", "is_setup_incomplete": "boolean",
    "renews_within_90_days": "boolean"}


def seed(sandbox: Sandbox, rows: int) -> dict[str, str]:
    owner = salesforce_id("005", 900)
    sandbox.mutate("salesforce/User", "insert", [{"Id": owner, "Name": "CSM", "IsActive": True}])
    accounts = sandbox.mutate("salesforce/Account", "insert", [
        {"Name": f"Customer {i}", "Product_Account_Id__c": f"PA-{i:05d}", "OwnerId": owner} for i in range(rows)])
    sandbox.mutate("hubspot/companies", "insert", [
        {"properties": {"name": f"Customer {i}", "product_account_id": f"PA-{i:05d}"}} for i in range(rows)])
    return {a["Product_Account_Id__c"]: a["Id"] for a in accounts}


def models(sf_ids: dict[str, str], rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = pd.DataFrame([{
        "account_id": f"PA-{i:05d}", "salesforce_account_id": sf_ids[f"PA-{i:05d}"],
        "usage_health_score": 40.0 + i % 60, "usage_health_band": ["red", "yellow", "green"][i % 3],
        "renewal_likelihood_score": 50.0 + i % 50, "renewal_likelihood_band": ["at_risk", "likely"][i % 2],
        "usage_health_change_28d": float(i % 11 - 5), "top_dropping_component": ["logins", "reports"][i % 2],
        "is_renewal_risk": i % 4 == 0, "has_upsell_signal": i % 9 == 0,
        "report_url": f"http://127.0.0.1:3000/reports/PA-{i:05d}.html"} for i in range(rows)])
    companies = pd.DataFrame([{
        "product_account_id": f"PA-{i:05d}", "usage_health_band": ["red", "yellow", "green"][i % 3],
        "renewal_likelihood_band": ["at_risk", "likely"][i % 2], "is_renewal_risk": i % 4 == 0,
        "has_upsell_signal": i % 9 == 0, "is_setup_incomplete": i % 5 == 0,
        "renews_within_90_days": i % 6 == 0} for i in range(rows)])
    return accounts, companies


def write_calls(sandbox: Sandbox, api: str) -> int:
    routes = sandbox.calls(api)["routes"]
    return sum(n for route, n in routes.items()
               if route.split(" ", 1)[0] in ("POST", "PATCH", "PUT") and "oauth2" not in route)


def engine_run(sandbox, spec, warehouse, resource) -> dict:
    sandbox.control.calls.clear()
    sandbox.control.calls_by_api.clear()
    t0 = time.perf_counter()
    out = run_sync(spec, warehouse, lambda: connect(spec, resource), table=spec.table, run_id=f"bench-{spec.name}")
    wall = time.perf_counter() - t0
    assert out.succeeded == out.planned, f"{spec.name}: {out.failed} records failed: {out.failed_sample}"
    return {"records": out.succeeded, "calls": sandbox.calls(spec.destination)["total"],
            "write_calls": write_calls(sandbox, spec.destination), "wall_s": wall, "batches": out.batches}


def naive_salesforce(sandbox, resource, accounts: pd.DataFrame, spec) -> tuple[int, float]:
    sf = resource.client()
    sandbox.control.calls.clear()
    sandbox.control.calls_by_api.clear()
    t0 = time.perf_counter()
    for row in accounts.to_dict("records"):
        fields = {m.field: (None if pd.isna(row[m.column]) else row[m.column]) for m in spec.fields}
        fields = {k: (v.item() if hasattr(v, "item") else v) for k, v in fields.items()}
        sf.Account.update(row["salesforce_account_id"], fields)
    return sandbox.calls("salesforce")["total"], time.perf_counter() - t0


def naive_hubspot(sandbox, resource, companies: pd.DataFrame, spec) -> tuple[int, float]:
    client = resource.client()
    sandbox.control.calls.clear()
    sandbox.control.calls_by_api.clear()
    t0 = time.perf_counter()
    for row in companies.to_dict("records"):
        props = {m.field: ("true" if row[m.column] is True else "false" if row[m.column] is False
                           else str(row[m.column])) for m in spec.fields}
        client.request("PATCH", f"/crm/v3/objects/companies/{row['product_account_id']}",
                       params={"idProperty": "product_account_id"}, json={"properties": props})
    return sandbox.calls("hubspot")["total"], time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--naive-sample", type=int, default=1_000,
                        help="records the one-call-per-record sync is timed on (0 = all rows)")
    args = parser.parse_args(argv)
    rows, sample = args.rows, (args.naive_sample or args.rows)

    shipped = {s.name: s for s in load_syncs(manifest=None)}
    sf_bulk = dataclasses.replace(shipped["account_health"], table=ACCOUNTS)
    sf_collections = dataclasses.replace(
        sf_bulk, name="account_health_collections",
        options={**sf_bulk.options, "bulk_threshold": rows + 1})  # the same sync, forced onto Collections
    hubspot = dataclasses.replace(shipped["company_lifecycle"], table=COMPANIES)

    results = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(None, seed=1) as sandbox:
        env = sandbox.env()
        sf_res = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                                    client_secret=env["SALESFORCE_CLIENT_SECRET"],
                                    ca_bundle=env["SALESFORCE_CA_BUNDLE"])
        hs_res = HubSpotResource(base_url=env["HUBSPOT_BASE_URL"], access_token=env["HUBSPOT_ACCESS_TOKEN"])
        warehouse = DuckDBWarehouse(path=str(Path(tmp) / "bench.duckdb"))
        sf_ids = seed(sandbox, rows)
        accounts, companies = models(sf_ids, rows)
        warehouse.write(ACCOUNTS, accounts, ACCOUNT_COLUMNS, replace_all=True)
        warehouse.write(COMPANIES, companies, COMPANY_COLUMNS, replace_all=True)
        sandbox.add_fault(latency_ms=args.latency_ms)  # every call, every API

        for label, spec, resource, batch in (
                ("Salesforce Account, Bulk API 2.0", sf_bulk, sf_res, 10_000),
                ("Salesforce Account, sObject Collections", sf_collections, sf_res, 200),
                ("HubSpot companies, batch update", hubspot, hs_res, 100)):
            print(f"running {label} ...", file=sys.stderr, flush=True)
            r = engine_run(sandbox, spec, warehouse, resource)
            results.append((label, r, batch))

        print(f"running naive syncs on {sample} records ...", file=sys.stderr, flush=True)
        sf_calls, sf_wall = naive_salesforce(sandbox, sf_res, accounts.head(sample), sf_bulk)
        hs_calls, hs_wall = naive_hubspot(sandbox, hs_res, companies.head(sample), hubspot)
    scale = rows / sample
    naive = {"salesforce": (round(sf_calls * scale), sf_wall * scale),
             "hubspot": (round(hs_calls * scale), hs_wall * scale)}

    print(f"\nReverse ETL, {rows:,} changed accounts, {args.latency_ms:g} ms injected latency per call"
          + (f" (naive timed on {sample:,} records, scaled x{scale:g})" if scale != 1 else ""))
    header = ("| sync | API calls (writes) | batches, minimum = ceil(rows/batch) | wall s | naive calls | naive wall s "
              "| calls ratio | wall ratio |")
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    for label, r, batch in results:
        dest = "salesforce" if label.startswith("Salesforce") else "hubspot"
        n_calls, n_wall = naive[dest]
        print(f"| {label} | {r['calls']} ({r['write_calls']}) | {math.ceil(rows / batch)} | {r['wall_s']:.1f} "
              f"| {n_calls:,} | {n_wall:.0f} | {n_calls / r['calls']:.0f}x | {n_wall / r['wall_s']:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
