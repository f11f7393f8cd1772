"""The sample-data generator at scale (targets: minutes, under 4 GB peak RSS).

Runs `python -m devkit.sample_data` in a child process into a temporary folder
and prints the wall time, the child's peak RSS and what it wrote.

    .venv/bin/python bench/generate_sample_data.py                           # 100,000 accounts, 120 days
    .venv/bin/python bench/generate_sample_data.py --accounts 10000 --days 365
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-22")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs_sample_bench_") as out:
        command = [sys.executable, "-m", "devkit.sample_data", "--out", out,
                   "--accounts", str(args.accounts), "--days", str(args.days),
                   "--seed", str(args.seed), "--as-of", args.as_of]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        counts = json.loads((Path(out) / "manifest.json").read_text())["row_counts"]
        size_gib = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**30
    rows = sum(counts.values())
    print(f"sample data: {args.accounts:,} accounts x {args.days} days: {wall:.1f} s wall, "
          f"peak RSS {peak_mib:,.0f} MiB, {rows:,} rows ({rows / wall:,.0f} rows/s), {size_gib:.2f} GiB")
    for key in ("product_db/feature_usage_daily", "product_db/users", "google_analytics/page_views_daily",
                "hubspot/email_events", "salesforce/task", "freshdesk/tickets"):
        print(f"  {key}: {counts[key]:,}")


if __name__ == "__main__":
    main()
