"""Benchmark: a full `dbt build` of the models and a one-day incremental run.

Generates a customer base (default 10,000 accounts, 365 days of usage), loads
its raw tables into a fresh DuckDB warehouse without HTTP, holding back the last
day of product usage, and times

1. a full `dbt build` (seeds, every model, every test) on the history, then
2. the same `dbt build` after that last day of usage lands: the incremental
   models (daily usage, daily signals, score history, anomaly scores) add one day, the rest
   (current-state marts) rebuild from them.

Both runs start from dbt's partial parse, as scheduled runs do, with the same
vars and profile. The pair is repeated (`--repeat`, from the same raw tables) and
medians reported: wall times on a shared 2-core machine vary by +-30%; CPU time
(user + system of the dbt process) varies less. The slowest nodes of each run
are listed from dbt's run_results.json. As many pairs again, untimed, on one
thread with dbt's debug log, sum the warehouse's own work: the time of every SQL
statement (medians too).

    .venv/bin/python bench/dbt_build.py                        # 10,000 accounts, 365 days
    .venv/bin/python bench/dbt_build.py --accounts 500 --days 120
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cs_platform import settings  # noqa: E402
from cs_platform.resources.warehouse import DuckDBWarehouse  # noqa: E402
from cs_platform.sources import catalog  # noqa: E402
from devkit.sample_warehouse import load_sample_data, write_raw  # noqa: E402

INCREMENTAL_MODELS = ("int_feature_usage_pivoted_to_account_days", "int_account_signals_computed",
                      "health_score_history", "int_usage_anomalies_scored")
USAGE = catalog.get("product_db", "feature_usage_daily")
PAGE_VIEWS = catalog.get("google_analytics", "page_views_daily")
CHUNK_ROWS = 2_000_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to put the sample and the warehouse (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument("--repeat", type=int, default=3,
                        help="full build + one-day run pairs to time (each from the same raw tables); "
                             "medians are reported, the machine's noise is +-30%%")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dbt_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    sample, warehouse_path = workdir / "sample", workdir / "warehouse.duckdb"
    warehouse_path.unlink(missing_ok=True)
    last_day = args.as_of - dt.timedelta(days=1)
    try:
        from devkit.sample_data import generate

        started = time.perf_counter()
        manifest = generate(sample, accounts=args.accounts, seed=args.seed, days=args.days, as_of=args.as_of)
        print(f"generated {args.accounts:,} accounts x {args.days} days in {time.perf_counter() - started:.0f} s "
              f"({manifest.row_counts['product_db/feature_usage_daily']:,} usage rows)")

        started = time.perf_counter()
        warehouse = DuckDBWarehouse(path=str(warehouse_path))
        big = [USAGE, PAGE_VIEWS]
        load_sample_data(sample, warehouse,
                         objects=[o for o in catalog.SOURCE_OBJECTS.values() if o not in big])
        held_back = load_usage(sample, warehouse, before=last_day)
        load_page_views(sample, warehouse, manifest.files[f"{PAGE_VIEWS.tool}/{PAGE_VIEWS.name}"])
        print(f"loaded the raw tables in {time.perf_counter() - started:.0f} s "
              f"(usage of {last_day} held back: {len(held_back):,} rows)")

        env = {**os.environ, "DUCKDB_PATH": str(warehouse_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        target = workdir / "target"
        dbt_vars = json.dumps({"as_of_date": args.as_of.isoformat()})
        # Both builds start from dbt's partial parse, as scheduled runs do.
        run_dbt(env, target, dbt_vars, "parse")
        raw_only = workdir / "raw_only.duckdb"
        shutil.copy(warehouse_path, raw_only)

        full, incremental = [], []
        for attempt in range(1, args.repeat + 1):
            shutil.copy(raw_only, warehouse_path)
            full.append(timed_build(env, target, dbt_vars, f"full build #{attempt}"))
            write_raw(warehouse, USAGE, held_back, last_day.isoformat())  # the new day's partition lands
            incremental.append(timed_build(env, target, dbt_vars, f"one-day incremental run #{attempt}"))

        # As many pairs again, untimed, to sum the warehouse's own work: the time of every
        # SQL statement, from dbt's debug log, on one thread so statements do not wait
        # on each other. This is what the run costs the warehouse (on BigQuery, what is
        # billed), without dbt's per-node work around it.
        full_sqls, incremental_sqls = [], []
        for attempt in range(1, args.repeat + 1):
            shutil.copy(raw_only, warehouse_path)
            full_sqls.append(statement_seconds(env, target, dbt_vars, workdir / "logs_full",
                                               f"full build #{attempt}, SQL"))
            write_raw(warehouse, USAGE, held_back, last_day.isoformat())
            incremental_sqls.append(statement_seconds(env, target, dbt_vars, workdir / "logs_one_day",
                                                      f"one-day run #{attempt}, SQL"))
        full_sql, incremental_sql = statistics.median(full_sqls), statistics.median(incremental_sqls)

        rows = warehouse.scalar("select count(*) from marts.health_score_history")
        full_s, full_inc, full_cpu = map(statistics.median, zip(*full))
        incremental_s, inc_inc, inc_cpu = map(statistics.median, zip(*incremental))
        print()
        print(f"accounts {args.accounts:,}, days {args.days}, score history rows {rows:,}; "
              f"medians of {args.repeat} runs each")
        for name, runs, wall, cpu, models in (("full build", full, full_s, full_cpu, full_inc),
                                              ("one-day incremental", incremental, incremental_s, inc_cpu, inc_inc)):
            print(f"{name + ':':21}{wall:7.1f} s wall, {cpu:6.1f} s CPU; incremental models {models:6.1f} s  "
                  f"(wall: {', '.join(f'{w:.1f}' for w, _, _ in runs)})")
        print(f"warehouse SQL time:   full build {full_sql:.1f} s, one-day run {incremental_sql:.1f} s "
              f"(sum of dbt's statements, 1 thread; full: {', '.join(f'{x:.1f}' for x in full_sqls)}; "
              f"one-day: {', '.join(f'{x:.1f}' for x in incremental_sqls)})")
        print(f"one-day run / full build: {incremental_s / full_s:.0%} of the wall time, "
              f"{inc_cpu / full_cpu:.0%} of the CPU time, {incremental_sql / full_sql:.0%} of the warehouse SQL time, "
              f"{inc_inc / full_inc:.0%} of the incremental models' time")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def run_dbt(env: dict, target: Path, dbt_vars: str, command: str, *extra: str) -> subprocess.CompletedProcess:
    project = settings.DBT_PROJECT_DIR
    result = subprocess.run(
        [settings.dbt_executable(), command, "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(target), "--vars", dbt_vars, *extra],
        env=env, cwd=project, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"dbt {command} failed:\n{result.stdout[-5000:]}")
    return result


def timed_build(env: dict, target: Path, dbt_vars: str, label: str) -> tuple[float, float, float]:
    """Wall time of one `dbt build`, the execution time of the incremental models in
    it, and the CPU time (user + system) of the dbt process: steadier than wall time
    on a shared machine, and it counts DuckDB's threads and dbt's alike."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    run_dbt(env, target, dbt_vars, "build")
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    print(f"\n{label}: {elapsed:.1f} s wall, {cpu:.1f} s CPU; slowest nodes:")
    results = json.loads((target / "run_results.json").read_text())["results"]
    for node in sorted(results, key=lambda r: r["execution_time"], reverse=True)[:6]:
        print(f"  {node['execution_time']:6.1f} s  {node['unique_id'].split('.', 2)[-1]}")
    by_kind: dict[str, list[float]] = {}
    for node in results:
        by_kind.setdefault(node["unique_id"].split(".")[0], []).append(node["execution_time"])
    print("  node time by kind (4 threads): "
          + ", ".join(f"{len(v)} {k}s {sum(v):.1f} s" for k, v in sorted(by_kind.items())))
    incremental = sum(n["execution_time"] for n in results if n["unique_id"].split(".")[-1] in INCREMENTAL_MODELS)
    return elapsed, incremental, cpu


def statement_seconds(env: dict, target: Path, dbt_vars: str, log_dir: Path, label: str) -> float:
    """Sum of the durations dbt logs for its SQL statements in one `dbt build`,
    printed with the nodes that spent the most."""
    shutil.rmtree(log_dir, ignore_errors=True)
    run_dbt({**env, "DBT_LOG_LEVEL_FILE": "debug"}, target, dbt_vars, "build",
            "--threads", "1", "--log-path", str(log_dir))
    by_node: dict[str, float] = {}
    node = "(start-up)"
    for line in (log_dir / "dbt.log").read_text(errors="replace").splitlines():
        if started := re.search(r"\]: On ([a-z]+\.cs_platform\.[^:]+): ", line):
            node = started.group(1).split(".", 2)[-1]
        elif status := re.search(r"SQL status: \S+ in ([0-9.]+) seconds", line):
            by_node[node] = by_node.get(node, 0.0) + float(status.group(1))
    total = sum(by_node.values())
    print(f"\n{label}: {total:.1f} s of SQL in {len(by_node)} nodes; most:")
    for name, seconds in sorted(by_node.items(), key=lambda item: item[1], reverse=True)[:6]:
        print(f"  {seconds:6.1f} s  {name}")
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_usage(sample: Path, warehouse: DuckDBWarehouse, *, before: dt.date) -> pd.DataFrame:
    """feature_usage_daily, cast column-wise (the per-record loader is too slow for
    10^7 rows; the types written are the same). Returns the rows of `before`, held back."""
    engine = sa.create_engine(f"sqlite:///{(sample / 'product.db').resolve()}")
    held_back, first = [], True
    try:
        with engine.connect() as connection:
            columns = ", ".join(USAGE.columns)
            for chunk in pd.read_sql_query(sa.text(f"select {columns} from {USAGE.api_name}"), connection,
                                           chunksize=CHUNK_ROWS):
                chunk["usage_date"] = pd.to_datetime(chunk["usage_date"].str.slice(0, 10), format="%Y-%m-%d")
                late = chunk["usage_date"].dt.date == before
                held_back.append(chunk[late])
                write_raw(warehouse, USAGE, chunk[~late], "bench", replace_all=first)
                first = False
    finally:
        engine.dispose()
    return pd.concat(held_back, ignore_index=True)


def load_page_views(sample: Path, warehouse: DuckDBWarehouse, files: dict[str, int]) -> None:
    first = True
    for relpath in files:
        for chunk in pd.read_json(sample / relpath, lines=True, chunksize=CHUNK_ROWS, dtype={"date": str}):
            chunk["date"] = pd.to_datetime(chunk["date"], format="%Y%m%d")
            write_raw(warehouse, PAGE_VIEWS, chunk, "bench", replace_all=first)
            first = False


if __name__ == "__main__":
    main()
