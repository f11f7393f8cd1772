"""Reverse ETL: API calls, rows sent and wall time of the sync engine for 10,000 accounts,
first sync, 1% changed and nothing changed, against the sandbox with injected latency
on every call, next to the floor (calls x latency).

    .venv/bin/python bench/reverse_etl.py [--rows 10000] [--latency-ms 50] [--changed 100]
                                          [--collections] [--naive-sample 1000]

For each destination it runs the real sync engine (`run_sync`, the shipped syncs'
settings from defs/activation/syncs/defs.yaml) three times on one model table:

1. first sync: every row is new to the engine (fresh sync state);
2. 1% changed: `--changed` rows of the model (default rows / 100) get a new value,
   then the sync runs again;
3. nothing changed: a third run on the same model.

Destinations: Salesforce Account (Bulk API 2.0 above 2,000 rows; 100 changed rows go
through sObject Collections, as the engine chooses) and HubSpot companies (batch
update). `--collections` adds the Account sync forced onto sObject Collections.

Per run: API calls as the engine counts them (SyncOutcome.api_calls / write_calls)
and as the sandbox counted them (`sandbox.calls(api)`, the difference over the run;
writes = POST/PATCH/PUT/DELETE calls other than login and searches), the rows sent,
the wall seconds around `run_sync`, and the floor: sandbox calls x `--latency-ms`, the
time the injected latency alone costs when calls are made one after another.

`--naive-sample N` (default 0: skipped, it is slow) also times the naive sync, one
REST call per record (PATCH /sobjects/Account/{Id}, PATCH /crm/v3/objects/companies/{id}),
on N records and scales it to `--rows` (its cost is linear: one call per record).

The script runs against whichever checkout it sits in (it puts its own repository
first on sys.path) and prints the cs_platform it imported, so an older checkout can
be measured with the same script. Only Sandbox constructor options the checkout's
Sandbox accepts are passed (`--sandbox-option name=value`, checked by signature).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Imported here, not inside the first timed run: the product imports simple-salesforce
# lazily (~0.3 s, once per process), which would otherwise land on whichever run is first.
import simple_salesforce  # noqa: E402, F401

import cs_platform  # noqa: E402
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

SCENARIOS = ("first sync", "1% changed", "nothing changed")


def seed(sandbox: Sandbox, rows: int) -> dict[str, str]:
    """CRM records to update (fields of the source catalog and crm_setup.yaml only)."""
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


def change_rows(df: pd.DataFrame, column: str, n: int) -> pd.DataFrame:
    """`n` rows spread over the model get a new value in one mapped column."""
    df = df.copy()
    idx = df.index[:: max(1, len(df) // n)][:n]
    if df[column].dtype == bool:
        df.loc[idx, column] = ~df.loc[idx, column]
    else:
        df.loc[idx, column] = df.loc[idx, column] + 1.0
    return df


# --------------------------------------------------------------------------- call counting

def call_routes(sandbox: Sandbox, api: str) -> Counter:
    return Counter(sandbox.calls(api)["routes"])


def is_write(route: str) -> bool:
    method, _, path = route.partition(" ")
    return (method in ("POST", "PATCH", "PUT", "DELETE")
            and not any(word in path.lower() for word in ("oauth2", "/search", "/query")))


@dataclasses.dataclass
class Run:
    destination: str
    label: str
    scenario: str
    planned: int
    sent: int
    engine_calls: int
    engine_writes: int
    sandbox_calls: int
    sandbox_writes: int
    routes: dict
    batches: dict
    wall_s: float
    latency_ms: float

    @property
    def floor_s(self) -> float:
        return self.sandbox_calls * self.latency_ms / 1000


def engine_run(sandbox, spec, warehouse, resource, label: str, scenario: str, latency_ms: float,
               run_no: int) -> Run:
    before = call_routes(sandbox, spec.destination)
    t0 = time.perf_counter()
    out = run_sync(spec, warehouse, lambda: connect(spec, resource), table=spec.table,
                   run_id=f"bench-{spec.name}-{run_no}")
    wall = time.perf_counter() - t0
    routes = call_routes(sandbox, spec.destination) - before
    if out.succeeded != out.planned or out.outcome != "completed":
        raise SystemExit(f"{label}, {scenario}: outcome {out.outcome}, {out.failed} of {out.planned} records "
                         f"failed: {out.failed_sample} {out.message}")
    return Run(destination=spec.destination, label=label, scenario=scenario, planned=out.planned, sent=out.sent,
               engine_calls=out.api_calls, engine_writes=out.write_calls,
               sandbox_calls=sum(routes.values()), sandbox_writes=sum(n for r, n in routes.items() if is_write(r)),
               routes=dict(routes), batches=dict(out.batches), wall_s=wall, latency_ms=latency_ms)


def three_runs(sandbox, spec, warehouse, resource, label, model: pd.DataFrame, columns, change_column,
               changed: int, latency_ms: float) -> tuple[list[Run], pd.DataFrame]:
    """First sync, then `changed` rows changed, then nothing changed; returns the model as left."""
    runs = []
    expected = (len(model), changed, 0)
    for i, scenario in enumerate(SCENARIOS):
        if i == 1:
            model = change_rows(model, change_column, changed)
            warehouse.write(spec.table, model, columns, replace_all=True)
        print(f"running {label}: {scenario} ...", file=sys.stderr, flush=True)
        run = engine_run(sandbox, spec, warehouse, resource, label, scenario, latency_ms, i + 1)
        if run.planned != expected[i]:
            print(f"  warning: {run.planned} records planned, expected {expected[i]}", file=sys.stderr)
        print(f"  {run.sent} sent, {run.sandbox_calls} calls, {run.wall_s:.1f} s; routes {run.routes}",
              file=sys.stderr, flush=True)
        runs.append(run)
    return runs, model


# --------------------------------------------------------------------------- naive sync

def naive_salesforce(sandbox, resource, accounts: pd.DataFrame, spec) -> tuple[int, float]:
    sf = resource.client()
    before = call_routes(sandbox, "salesforce")
    t0 = time.perf_counter()
    for row in accounts.to_dict("records"):
        fields = {m.field: (None if pd.isna(row[m.column]) else row[m.column]) for m in spec.fields}
        fields = {k: (v.item() if hasattr(v, "item") else v) for k, v in fields.items()}
        sf.Account.update(row["salesforce_account_id"], fields)
    wall = time.perf_counter() - t0
    return sum((call_routes(sandbox, "salesforce") - before).values()), wall


def naive_hubspot(sandbox, resource, companies: pd.DataFrame, spec) -> tuple[int, float]:
    client = resource.client()
    before = call_routes(sandbox, "hubspot")
    t0 = time.perf_counter()
    for row in companies.to_dict("records"):
        props = {m.field: ("true" if row[m.column] is True else "false" if row[m.column] is False
                           else str(row[m.column])) for m in spec.fields}
        client.request("PATCH", f"/crm/v3/objects/companies/{row['product_account_id']}",
                       params={"idProperty": "product_account_id"}, json={"properties": props})
    wall = time.perf_counter() - t0
    return sum((call_routes(sandbox, "hubspot") - before).values()), wall


# --------------------------------------------------------------------------- set-up

def sandbox_options(pairs: list[str]) -> dict:
    """--sandbox-option name=value, only for options this checkout's Sandbox accepts."""
    accepted = inspect.signature(Sandbox).parameters
    options = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--sandbox-option {pair!r}: expected name=value")
        if name not in accepted:
            raise SystemExit(f"--sandbox-option {name}: this checkout's Sandbox does not take it; it takes "
                             f"{[p for p in accepted if p not in ('self', 'data_dir')]}")
        try:
            options[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[name] = text
    return options


def checkout() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout
        paths = [line[3:] for line in dirty.splitlines() if line.strip()]
        if not paths:
            return rev
        return rev + " + uncommitted changes to " + (", ".join(paths) if len(paths) <= 3 else f"{len(paths)} files")
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="injected on every call, every API")
    parser.add_argument("--changed", type=int, default=None, help="rows changed for the second run (rows / 100)")
    parser.add_argument("--collections", action="store_true",
                        help="also run the Account sync forced onto sObject Collections")
    parser.add_argument("--naive-sample", type=int, default=0,
                        help="records the one-call-per-record sync is timed on, scaled to --rows (0 = skip)")
    parser.add_argument("--sandbox-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a Sandbox constructor option (refused if this checkout's Sandbox lacks it)")
    args = parser.parse_args(argv)
    rows, latency = args.rows, args.latency_ms
    changed = args.changed if args.changed is not None else max(1, rows // 100)
    options = {"seed": 1, **sandbox_options(args.sandbox_option)}

    code = f"{ROOT} at {checkout()}"
    print(f"cs_platform from {Path(cs_platform.__file__).parent}; checkout {code}", file=sys.stderr)
    load_start = load()

    shipped = {s.name: s for s in load_syncs(manifest=None)}
    sf_bulk = dataclasses.replace(shipped["account_health"], table=ACCOUNTS)
    sf_collections = dataclasses.replace(
        sf_bulk, name="account_health_collections",
        options={**sf_bulk.options, "bulk_threshold": rows + 1})  # the same sync, forced onto Collections
    hubspot = dataclasses.replace(shipped["company_lifecycle"], table=COMPANIES)

    runs: list[Run] = []
    naive = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Sandbox(None, **options) as sandbox:
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
        sandbox.add_fault(latency_ms=latency)  # every call, every API

        r, accounts = three_runs(sandbox, sf_bulk, warehouse, sf_res, "Salesforce Account (Bulk API 2.0)",
                                 accounts, ACCOUNT_COLUMNS, "usage_health_score", changed, latency)
        runs += r
        if args.collections:
            r, accounts = three_runs(sandbox, sf_collections, warehouse, sf_res,
                                     "Salesforce Account (forced onto sObject Collections)",
                                     accounts, ACCOUNT_COLUMNS, "usage_health_score", changed, latency)
            runs += r
        r, companies = three_runs(sandbox, hubspot, warehouse, hs_res, "HubSpot companies (batch update)",
                                  companies, COMPANY_COLUMNS, "is_setup_incomplete", changed, latency)
        runs += r

        if args.naive_sample:
            sample = min(args.naive_sample, rows)
            print(f"running naive syncs on {sample} records ...", file=sys.stderr, flush=True)
            naive["salesforce"] = naive_salesforce(sandbox, sf_res, accounts.head(sample), sf_bulk)
            naive["hubspot"] = naive_hubspot(sandbox, hs_res, companies.head(sample), hubspot)
    total_s = time.perf_counter() - t_all

    print(f"\nReverse ETL, {rows:,} rows, {changed:,} changed for the second run, {latency:g} ms injected "
          f"latency per call; code {checkout()}; load average {load_start} at start, {load()} at end; "
          f"{total_s:.0f} s in all")
    print("\n| destination | scenario | rows sent | engine calls (writes) | sandbox calls (writes) | batches "
          "| floor s | wall s | wall - floor s | goal |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---|")
    for run in runs:
        goal = "-"
        if run.scenario == SCENARIOS[0] and run.destination == "hubspot":
            limit = 2 * run.floor_s + 2
            goal = f"<= 2 x floor + 2 s = {limit:.1f}: {'met' if run.wall_s <= limit else 'not met'}"
        elif run.scenario == SCENARIOS[0] and run.destination == "salesforce":
            limit = run.floor_s + 2
            goal = f"<= floor + 2 s = {limit:.1f}: {'met' if run.wall_s <= limit else 'not met'}"
        batches = ", ".join(f"{api} {n}" for api, n in sorted(run.batches.items())) or "-"
        print(f"| {run.label} | {run.scenario} | {run.sent:,} | {run.engine_calls} ({run.engine_writes}) "
              f"| {run.sandbox_calls} ({run.sandbox_writes}) | {batches} | {run.floor_s:.2f} | {run.wall_s:.2f} "
              f"| {run.wall_s - run.floor_s:+.2f} | {goal} |")

    if naive:
        scale = rows / sample
        print(f"\nNaive sync, one call per record, timed on {sample:,} records"
              + (f", scaled x{scale:g} to {rows:,}" if scale != 1 else "") + ", against the first sync:")
        print("\n| destination | naive calls | naive wall s | engine first-sync calls | calls ratio | wall ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        for run in runs:
            if run.scenario != SCENARIOS[0] or run.destination not in naive:
                continue
            n_calls, n_wall = naive[run.destination]
            n_calls, n_wall = round(n_calls * scale), n_wall * scale
            print(f"| {run.label} | {n_calls:,} | {n_wall:.0f} | {run.sandbox_calls} "
                  f"| {n_calls / max(run.sandbox_calls, 1):.0f}x | {n_wall / run.wall_s:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
