"""Ingestion: rows per second of every source asset, and the product DB's largest
table through the platform vs a plain bulk copy (SQLite and PostgreSQL).

    .venv/bin/python bench/ingestion.py                                   # 10,000 accounts, 120 days
    .venv/bin/python bench/ingestion.py --out /tmp/cs-ingest-sample       # keep the data set for reruns
    .venv/bin/python bench/ingestion.py --accounts 500 --days 42 --no-postgres

1. Generates the sample data once (or reuses `--out` when its manifest matches).
2. Starts the sandbox on free ports with no injected latency or faults, so the
   API objects show what the platform itself costs per row (the sandbox still
   answers over real local HTTP(S), and its JSON encoding is part of the time).
3. Materializes every source asset through the real asset code and the local
   resources (default page sizes, as `settings` wires them) into a fresh DuckDB
   file, one run per asset so each can be timed and its API calls counted:
   unpartitioned assets in one run each, the daily-partitioned ones as one
   single-run backfill over the data's days, the KARTE export files one run per
   file (as the export sensor requests them).
4. Compares `raw/product_db/feature_usage_daily` through the asset with a plain
   bulk copy of the same table into DuckDB: from the SQLite file (DuckDB's sqlite
   scanner, or pandas.read_sql + one DuckDB insert when the extension cannot be
   installed), and from a throwaway PostgreSQL database (COPY ... TO STDOUT via
   psycopg2, then DuckDB's CSV reader).

"seconds" is the Dagster step (asset body plus its checks); "run s" adds the run's
own set-up (a few hundred ms per run on an in-memory instance).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

# Dagster flags `backfill_policy` as beta on import of the daily assets; not news here.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cs_platform import settings  # noqa: E402
from cs_platform.resources.karte_exports import KarteExportsResource  # noqa: E402
from cs_platform.resources.product_db import ProductDBResource  # noqa: E402
from cs_platform.resources.warehouse import DUCKDB_TYPES, DuckDBWarehouse, quote  # noqa: E402
from cs_platform.sources import catalog  # noqa: E402
from cs_platform.sources.catalog import SourceObject  # noqa: E402
from devkit.sample_data import Manifest, generate  # noqa: E402
from devkit.sandbox import Sandbox  # noqa: E402

USAGE = catalog.get("product_db", "feature_usage_daily")
# The sandbox API that serves each tool; product_db and karte are not served over HTTP.
SANDBOX_API = {"salesforce": "salesforce", "hubspot": "hubspot", "freshdesk": "freshdesk",
               "airtable": "airtable", "google_analytics": "google_analytics"}
# Runs log to the in-memory instance; the terminal only shows warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=120, help="days of usage history")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None,
                        help="the data's as-of day (default: today, or the reused data set's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="generated data folder to keep and reuse when its manifest matches "
                             "(default: a temporary folder, removed afterwards)")
    parser.add_argument("--postgres", default=POSTGRES_SERVER,
                        help="PostgreSQL server URL (no database); a throwaway database is created on it")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL comparison")
    return parser.parse_args(argv)


# ------------------------------------------------------------------ sample data

def sample_data(out: Path, accounts: int, days: int, seed: int, as_of: dt.date | None) -> tuple[Manifest, float]:
    """The data set in `out`: reused when its manifest has the same arguments (generating
    10,000 accounts takes a minute or more, and the benchmark only reads it), else generated.
    Returns the manifest and the generation time (0 when reused)."""
    if (out / "manifest.json").exists():
        manifest = Manifest.read(out)
        if ((manifest.accounts, manifest.days, manifest.seed) == (accounts, days, seed)
                and as_of in (None, manifest.as_of) and manifest.product_db == "product.db"):
            print(f"Reusing the sample data in {out} (as of {manifest.as_of})")
            return manifest, 0.0
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    print(f"Generating {accounts:,} accounts x {days} days (seed {seed}, as of {as_of}) into {out} ...")
    started = time.perf_counter()
    manifest = generate(out, accounts=accounts, seed=seed, days=days, as_of=as_of)
    return manifest, time.perf_counter() - started


def data_days(manifest: Manifest) -> tuple[str, str]:
    """First and last day the data covers: `days` days ending the day before as_of."""
    first = manifest.as_of - dt.timedelta(days=manifest.days)
    return first.isoformat(), (manifest.as_of - dt.timedelta(days=1)).isoformat()


# ------------------------------------------------------------------ running assets

@dataclass
class Timing:
    """One source object's load: possibly several runs (one per KARTE file)."""

    obj: SourceObject
    rows: int = 0  # rows written, as the asset reported them
    step_s: float = 0.0  # Dagster step time (asset body + checks), summed over runs
    run_s: float = 0.0  # wall time of dg.materialize, summed over runs
    runs: int = 0
    api_calls: int | None = None
    table_rows: int | None = None
    expected_rows: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.rows / self.step_s if self.step_s else 0.0


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> float:
    """STEP_START to STEP_SUCCESS/FAILURE from the run's event log: the asset's own
    time, without the run's set-up and teardown."""
    start = end = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            start = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            end = entry.timestamp
    return (end - start) if start is not None and end is not None else 0.0


def run_once(timing: Timing, asset: dg.AssetsDefinition, resources: dict, instance: dg.DagsterInstance,
             sandbox: Sandbox, **materialize_kwargs) -> None:
    """One dg.materialize of one asset, added to `timing`: rows from the run's first
    materialization event (a range run reports the same metadata once per day),
    API calls as the sandbox counted them during the run."""
    api = SANDBOX_API.get(timing.obj.tool)
    calls_before = sandbox.calls(api)["total"] if api else 0
    started = time.perf_counter()
    result = dg.materialize([asset], selection=[dg.AssetKey(timing.obj.asset_key_path)], resources=resources,
                            instance=instance, run_config=QUIET, raise_on_error=False, **materialize_kwargs)
    timing.run_s += time.perf_counter() - started
    timing.step_s += step_seconds(instance, result.run_id)
    timing.runs += 1
    if api:
        timing.api_calls = (timing.api_calls or 0) + sandbox.calls(api)["total"] - calls_before
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        timing.errors.append(failures[0].step_failure_data.error.message.strip() if failures else "run failed")
        return
    events = result.get_asset_materialization_events()
    if events:
        timing.rows += int(events[0].materialization.metadata["rows_written"].value)


def load_object(obj: SourceObject, asset: dg.AssetsDefinition, resources: dict, instance: dg.DagsterInstance,
                sandbox: Sandbox, manifest: Manifest) -> Timing:
    """Materialize one source object the way production runs it: unpartitioned in one run,
    daily partitions as one single-run backfill over the data's days, dynamic
    partitions (KARTE files) one run per file."""
    timing = Timing(obj, expected_rows=manifest.row_counts.get(f"{obj.tool}/{obj.name}"))
    partitions_def = asset.partitions_def
    if partitions_def is None:
        run_once(timing, asset, resources, instance, sandbox)
    elif isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        files = sorted(Path(f).name for f in manifest.files.get(f"{obj.tool}/{obj.name}", {}))
        instance.add_dynamic_partitions(partitions_def.name, files)
        for name in files:
            run_once(timing, asset, resources, instance, sandbox, partition_key=name)
    elif isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        first, last = data_days(manifest)
        run_once(timing, asset, resources, instance, sandbox,
                 tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})
    else:
        raise TypeError(f"{obj.table}: no benchmark rule for {type(partitions_def).__name__}")
    warehouse = resources["warehouse"]
    if warehouse.columns(obj.table) is not None:
        timing.table_rows = warehouse.row_count(obj.table)
    return timing


def source_assets() -> dict[str, dg.AssetsDefinition]:
    """Every catalog object's asset, from the merged source definitions (so the
    benchmark follows the code, wherever an asset is defined)."""
    from cs_platform.definitions import defs

    # A tool's objects may share one multi-asset (Salesforce, HubSpot, Freshdesk): map every key.
    by_key = {key: a for a in defs().assets if isinstance(a, dg.AssetsDefinition) for key in a.keys}
    return {obj.table: by_key[dg.AssetKey(obj.asset_key_path)] for obj in catalog.SOURCE_OBJECTS.values()}


def local_resources(warehouse_path: Path, product_db_url: str, karte_dir: Path) -> dict:
    """The local environment's resources (sandbox URLs from the environment, default page
    sizes), pointed at this benchmark's warehouse, product DB and export folder."""
    return {**settings.resources_for("local"),
            "warehouse": DuckDBWarehouse(path=str(warehouse_path)),
            "product_db": ProductDBResource(url=product_db_url),
            "karte_exports": KarteExportsResource(location=str(karte_dir))}


def time_platform_usage(product_db_url: str, warehouse_path: Path, manifest: Manifest,
                        sandbox: Sandbox) -> Timing:
    """feature_usage_daily through its asset into a fresh warehouse, from `product_db_url`."""
    assets = source_assets()
    resources = local_resources(warehouse_path, product_db_url, manifest.out_dir / "karte")
    with dg.DagsterInstance.ephemeral() as instance:
        return load_object(USAGE, assets[USAGE.table], resources, instance, sandbox, manifest)


# ------------------------------------------------------------------ plain bulk copies

def _typed_select(source: str) -> str:
    """The catalog's columns cast to the warehouse types, so the plain copy ends with the
    same typed table as the asset (SQLite keeps dates as text)."""
    return ", ".join(f"cast({quote(c)} as {DUCKDB_TYPES[t]}) as {quote(c)}" for c, t in USAGE.columns.items()) \
        + f" from {source}"


def bulk_copy_sqlite(sqlite_path: Path, duckdb_path: Path) -> tuple[int, float, str]:
    """The same table copied as plainly as possible: DuckDB's sqlite scanner if it can be
    installed (it is downloaded on first use, so offline it may not be), else one
    pandas.read_sql of the whole table and one DuckDB insert. Returns rows, seconds, method."""
    import duckdb
    import pandas as pd

    con = duckdb.connect(str(duckdb_path))
    try:
        try:
            con.execute("INSTALL sqlite")
            con.execute("LOAD sqlite")
            scanner = True
        except duckdb.Error:
            scanner = False
        started = time.perf_counter()
        if scanner:
            source = f"sqlite_scan('{sqlite_path}', '{USAGE.api_name}')"
            con.execute(f"create table usage_copy as select {_typed_select(source)}")
            method = "DuckDB sqlite scanner (sqlite_scan)"
        else:
            with sqlite3.connect(sqlite_path) as lite:
                frame = pd.read_sql(f"select {', '.join(USAGE.columns)} from {USAGE.api_name}", lite)
            con.register("frame", frame)
            con.execute(f"create table usage_copy as select {_typed_select('frame')}")
            method = "pandas.read_sql (whole table) + one DuckDB insert (sqlite scanner not installable offline)"
        seconds = time.perf_counter() - started
        rows = con.execute("select count(*) from usage_copy").fetchone()[0]
    finally:
        con.close()
    return rows, seconds, method


def bulk_copy_postgres(database_url: str, duckdb_path: Path, spool: Path) -> tuple[int, float]:
    """COPY (SELECT the catalog's columns) TO STDOUT as CSV through psycopg2 into a file,
    then DuckDB's CSV reader into a table with the catalog's types: the database's own
    bulk path and DuckDB's. Returns rows and seconds (both steps)."""
    import duckdb
    import psycopg2

    columns = ", ".join(quote(c) for c in USAGE.columns)
    started = time.perf_counter()
    with psycopg2.connect(database_url) as pg, pg.cursor() as cursor, open(spool, "wb") as handle:
        cursor.copy_expert(f"COPY (SELECT {columns} FROM {USAGE.api_name}) TO STDOUT WITH (FORMAT csv)", handle)
    pg.close()
    con = duckdb.connect(str(duckdb_path))
    try:
        types = ", ".join(f"'{c}': '{DUCKDB_TYPES[t]}'" for c, t in USAGE.columns.items())
        con.execute(f"create table usage_copy as select * from read_csv('{spool}', header = false, "
                    f"columns = {{{types}}})")
        seconds = time.perf_counter() - started
        rows = con.execute("select count(*) from usage_copy").fetchone()[0]
    finally:
        con.close()
    return rows, seconds


# ------------------------------------------------------------------ PostgreSQL

def postgres_comparison(args, manifest: Manifest, workdir: Path, sandbox: Sandbox) -> dict:
    """Load the same product tables into a throwaway database cs_bench_<uuid>, time the
    asset and the COPY against it, and drop the database whatever happens."""
    import psycopg2

    name = f"cs_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"{args.postgres}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        url = f"{args.postgres}/{name}"
        print(f"PostgreSQL: generating the product tables into database {name} ...")
        started = time.perf_counter()
        # The generator writes every tool's files too; they go to a scratch folder.
        pg_manifest = generate(workdir / "pg-sample", accounts=manifest.accounts, seed=manifest.seed,
                               days=manifest.days, as_of=manifest.as_of, product_db_url=url)
        generated_s = time.perf_counter() - started
        assert pg_manifest.row_counts[f"product_db/{USAGE.name}"] == manifest.row_counts[f"product_db/{USAGE.name}"]
        with psycopg2.connect(url) as pg, pg.cursor() as cursor:
            cursor.execute("ANALYZE")  # as a long-lived production database would be
        pg.close()
        print("PostgreSQL: timing the asset and COPY ...")
        asset = time_platform_usage(url, workdir / "pg-platform.duckdb", pg_manifest, sandbox)
        copy_rows, copy_s = bulk_copy_postgres(url, workdir / "pg-copy.duckdb", workdir / "pg-copy.csv")
        return {"database": name, "generated_s": generated_s, "asset": asset, "copy_rows": copy_rows,
                "copy_s": copy_s}
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# ------------------------------------------------------------------ report

def fmt_rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "-"


def print_sources(timings: list[Timing]) -> None:
    print("\n| source object | rows | seconds | rows/s | API calls | runs | run s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in timings:
        flag = ""
        if t.errors:
            flag = f" FAILED: {t.errors[0][:120]}"
        elif t.expected_rows is not None and t.table_rows != t.expected_rows:
            flag = f" (table holds {t.table_rows:,}, generator wrote {t.expected_rows:,})"
        calls = "-" if t.api_calls is None else f"{t.api_calls:,}"
        print(f"| {t.obj.tool}/{t.obj.name}{flag} | {t.rows:,} | {t.step_s:.1f} | {fmt_rate(t.rows, t.step_s)} "
              f"| {calls} | {t.runs} | {t.run_s:.1f} |")
    rows, step, run = sum(t.rows for t in timings), sum(t.step_s for t in timings), sum(t.run_s for t in timings)
    calls = sum(t.api_calls or 0 for t in timings)
    print(f"| **all** | {rows:,} | {step:.1f} | {fmt_rate(rows, step)} | {calls:,} | "
          f"{sum(t.runs for t in timings)} | {run:.1f} |")


def print_comparison(label: str, asset: Timing, copy_rows: int, copy_s: float, method: str) -> None:
    ratio = (copy_rows / copy_s) / asset.rate if asset.rate and copy_s else float("nan")
    print(f"\n{label}: raw/product_db/{USAGE.name}")
    print(f"  platform asset : {asset.rows:,} rows in {asset.step_s:.1f} s = {fmt_rate(asset.rows, asset.step_s)} "
          f"rows/s (run {asset.run_s:.1f} s)")
    print(f"  plain bulk copy: {copy_rows:,} rows in {copy_s:.1f} s = {fmt_rate(copy_rows, copy_s)} rows/s "
          f"[{method}]")
    print(f"  bulk copy / asset rate: {ratio:.1f}x")


# ------------------------------------------------------------------ main

def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    scratch = Path(tempfile.mkdtemp(prefix="cs-bench-ingestion-"))
    out = args.out or scratch / "sample"
    try:
        manifest, generate_s = sample_data(out, args.accounts, args.days, args.seed, args.as_of)
        if manifest.as_of > dt.datetime.now(dt.timezone.utc).date():
            raise SystemExit(f"the data is as of {manifest.as_of}, after today: its days are not partitions yet")
        if generate_s:
            print(f"  generated {sum(manifest.row_counts.values()):,} rows in {generate_s:.0f} s")

        started = time.perf_counter()
        with Sandbox(manifest.out_dir) as sandbox:  # free ports, no faults: zero injected latency
            print(f"Sandbox started in {time.perf_counter() - started:.1f} s (loads every API's data); "
                  f"faults: {sandbox.faults() or 'none'}")
            os.environ.update(sandbox.env())
            resources = local_resources(scratch / "warehouse.duckdb", f"sqlite:///{out / 'product.db'}",
                                        out / "karte")
            assets = source_assets()
            timings = []
            with dg.DagsterInstance.ephemeral() as instance:
                for obj in catalog.SOURCE_OBJECTS.values():
                    print(f"  {obj.tool}/{obj.name} ...", flush=True)
                    timings.append(load_object(obj, assets[obj.table], resources, instance, sandbox, manifest))
            print_sources(timings)

            usage = next(t for t in timings if t.obj is USAGE)
            rows, seconds, method = bulk_copy_sqlite(out / "product.db", scratch / "sqlite-copy.duckdb")
            print_comparison("SQLite product DB", usage, rows, seconds, method)

            if not args.no_postgres:
                pg = postgres_comparison(args, manifest, scratch, sandbox)
                print(f"  (database {pg['database']} loaded in {pg['generated_s']:.0f} s, dropped afterwards)")
                print_comparison("PostgreSQL 127.0.0.1:5432 product DB", pg["asset"], pg["copy_rows"], pg["copy_s"],
                                 "COPY (SELECT ...) TO STDOUT csv via psycopg2 to a file + DuckDB read_csv")
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
