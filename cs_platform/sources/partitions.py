"""Daily partitions shared by the day-shaped sources (product usage, GA4).

A run over a range of days (a single-run backfill) is one fetch and one atomic
write replacing exactly those days, so re-running a day leaves the same rows.
"""

import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import date

import dagster as dg
import pandas as pd

from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import load

PARTITIONS_START = "2025-01-01"

# The day-shaped assets backfill in one run (one query for a range of days).
# Dagster 1.13 still marks `backfill_policy` beta and would warn on every load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

# Fetch the rows of the days [start, end): end is exclusive.
FetchDays = Callable[[date, date], Iterable[Mapping] | pd.DataFrame]


def daily_partitions(*, include_today: bool) -> dg.DailyPartitionsDefinition:
    """Days from PARTITIONS_START; `include_today` adds today's partial day as a
    partition (for sources an hourly run can refresh during the day)."""
    return dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1 if include_today else 0)


def load_days(
    context: dg.AssetExecutionContext, warehouse: Warehouse, obj: SourceObject, fetch: FetchDays
) -> dg.MaterializeResult:
    """Load the run's day or range of days (a single-run backfill): one fetch for the
    whole window, one write replacing exactly those days, so re-running a day
    leaves the same rows."""
    window = context.partition_time_window
    days = context.partition_keys
    load_id = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    records = fetch(window.start.date(), window.end.date())
    return load(context, warehouse, obj, records, load_id=load_id,
                replace_where=(obj.partition_column, days),
                extra_metadata={"days": len(days), "first_day": days[0], "last_day": days[-1]})
