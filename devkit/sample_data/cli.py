"""Command line: python -m devkit.sample_data --out data/sample --accounts 500 ..."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from devkit.sample_data.generate import generate
from devkit.sample_data.renewals import CHURN_CAUSES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.sample_data",
        description="Generate a deterministic sample data set for every source the platform ingests.")
    parser.add_argument("--out", default="data/sample", help="output folder (default: %(default)s)")
    parser.add_argument("--accounts", type=int, default=500, help="customer accounts (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    parser.add_argument("--days", type=int, default=120, help="days of usage history (default: %(default)s)")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None,
                        help="the data set's 'today', YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--product-db-url", default=None,
                        help="SQLAlchemy URL to load the product tables into (default: <out>/product.db)")
    parser.add_argument("--churn-cause", choices=CHURN_CAUSES, default=CHURN_CAUSES[0],
                        help="what drives the planted past churns: relationship (NPS, escalations, CSM "
                             "impression: what renewal likelihood measures), usage (fading usage, which "
                             "renewal likelihood ignores) or unobserved (random); default: %(default)s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    try:
        manifest = generate(args.out, accounts=args.accounts, seed=args.seed, days=args.days,
                            as_of=args.as_of, product_db_url=args.product_db_url,
                            churn_cause=args.churn_cause)
    except ValueError as error:
        parser.error(str(error))
    print(f"{sum(manifest.row_counts.values()):,} rows for {manifest.accounts:,} accounts as of "
          f"{manifest.as_of} written to {args.out} (product DB: {manifest.product_db}) "
          f"in {time.perf_counter() - started:.1f} s")
