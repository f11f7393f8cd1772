"""Benchmark: render every report page at 10,000 accounts, then again when 1% changed.

Generates a customer base (default 10,000 accounts, 120 days), loads its raw tables
straight into a fresh DuckDB warehouse (devkit/sample_warehouse.py, no HTTP), builds
the dbt project once, then times the report code as the assets run it
(`cs_platform.reports.pages`, local store in a temporary folder):

1. **all pages**: a fresh output folder, every account's internal and customer page,
   plus the renewal board and the portfolio;
2. **1% changed**: 1% of the accounts get a new value in account_360 (an open ticket
   more), and the account pages run again: only those are rendered;
3. **nothing changed**: the account pages once more.

Each account-page run prints its wall time split into reading the warehouse and
rendering + writing, the pages rendered, and the bytes on disk.

    .venv/bin/python bench/report_render.py                       # 10,000 accounts, 120 days
    .venv/bin/python bench/report_render.py --workdir /tmp/rb --keep   # keep the warehouse; reruns skip the build
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cs_platform import settings  # noqa: E402
from cs_platform.reports import pages  # noqa: E402
from cs_platform.reports.writers import LocalReportStore  # noqa: E402
from cs_platform.resources.warehouse import DuckDBWarehouse  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    parser.add_argument("--changed-share", type=float, default=0.01)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    return parser.parse_args(argv)


def build_warehouse(args, workdir: Path) -> Path:
    """Sample data -> raw tables -> dbt build; reused when the workdir already holds it."""
    from devkit.sample_data import generate
    from devkit.sample_warehouse import load_sample_data

    warehouse_path, done = workdir / "warehouse.duckdb", workdir / "built.json"
    wanted = {"accounts": args.accounts, "days": args.days, "seed": args.seed, "as_of": args.as_of.isoformat()}
    if done.exists() and json.loads(done.read_text()) == wanted:
        print(f"reusing the built warehouse in {workdir}")
        return warehouse_path
    warehouse_path.unlink(missing_ok=True)
    started = time.perf_counter()
    generate(workdir / "sample", accounts=args.accounts, seed=args.seed, days=args.days, as_of=args.as_of)
    print(f"generated {args.accounts:,} accounts x {args.days} days in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    load_sample_data(workdir / "sample", DuckDBWarehouse(path=str(warehouse_path)))
    print(f"loaded the raw tables in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    project = settings.DBT_PROJECT_DIR
    subprocess.run(
        [settings.dbt_executable(), "build", "--vars", json.dumps({"as_of_date": args.as_of.isoformat()}),
         "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(workdir / "target"),
         "--quiet"],
        env={**os.environ, "DUCKDB_PATH": str(warehouse_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        check=True)
    print(f"dbt build in {time.perf_counter() - started:.0f} s")
    done.write_text(json.dumps(wanted))
    return warehouse_path


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed_account_pages(label: str, warehouse, store) -> pages.AccountPagesOutcome:
    started = time.perf_counter()
    out = pages.write_account_pages(warehouse, store, settings.salesforce_record_url)
    wall = time.perf_counter() - started
    print(f"{label:28} {wall:7.1f} s wall (reading {out.seconds_reading:5.1f} s, rendering + writing "
          f"{out.seconds_rendering:6.1f} s); {out.rendered:,} accounts rendered ({2 * out.rendered:,} pages), "
          f"{out.unchanged:,} unchanged, {out.removed} removed")
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="report_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        warehouse_path = build_warehouse(args, workdir)
        work_copy = workdir / "render.duckdb"
        shutil.copy(warehouse_path, work_copy)
        warehouse = DuckDBWarehouse(path=str(work_copy))
        out_dir = workdir / "reports"
        shutil.rmtree(out_dir, ignore_errors=True)
        store = LocalReportStore(root=str(out_dir))
        accounts = warehouse.row_count("marts.account_360")
        print(f"\naccounts {accounts:,}, days {args.days}; pages in {out_dir}")

        first = timed_account_pages("all account pages:", warehouse, store)
        for name, write in (("renewal board:", pages.write_renewal_board), ("portfolio:", pages.write_portfolio)):
            started = time.perf_counter()
            board = write(warehouse, store)
            print(f"{name:28} {time.perf_counter() - started:7.1f} s wall ({board.rows:,} rows)")
        html = list(out_dir.glob("*.html")) + list((out_dir / "customer").glob("*.html"))
        print(f"{'on disk:':28} {size_of(out_dir) / 2**20:7.1f} MiB, {len(html):,} pages, "
              f"{size_of(out_dir / 'assets') / 2**20:.1f} MiB of it plotly.js and the stylesheet (written once)")

        changed = max(1, round(accounts * args.changed_share))
        warehouse.execute(
            "update marts.account_360 set open_tickets = coalesce(open_tickets, 0) + 1 where account_id in "
            "(select account_id from marts.account_360 order by hash(account_id) limit ?)", [changed])
        second = timed_account_pages(f"{args.changed_share:.0%} changed ({changed:,} accounts):", warehouse, store)
        third = timed_account_pages("nothing changed:", warehouse, store)
        assert first.rendered == accounts and second.rendered == changed and third.rendered == 0
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
