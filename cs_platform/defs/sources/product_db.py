"""Product database: plans, accounts, users, setup steps (incremental) and daily usage (partitioned).

The tables with an `updated_at` cursor are read incrementally: the cursor is the
latest value already in the warehouse (nothing to lose or to keep in step
elsewhere), the first load is full, and rows are upserted by key. Daily usage is
partitioned by day; a run over a range of days is one query and one atomic write.
"""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from cs_platform import settings
from cs_platform.resources.product_db import ProductDBResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import load, raw_asset_kwargs, warehouse_cursor
from cs_platform.sources.partitions import daily_partitions, load_days

# ----------------------------------------------------------- incremental tables

INCREMENTAL = [o for o in catalog.objects_of("product_db") if o.cursor]
USAGE = catalog.get("product_db", "feature_usage_daily")

# Loaded hourly: warn after one missed run, fail after two.
def _read(product_db: ProductDBResource, obj: SourceObject, **query) -> pd.DataFrame:
    """The selected rows of the object's table, streamed from the database in chunks."""
    chunks = product_db.read_table(obj.api_name, list(obj.columns), **query)
    return pd.concat(list(chunks), ignore_index=True)


def _since(column, cursor: datetime):
    """The cursor as a bound value for `column`: timezone-aware when the column is
    (PostgreSQL timestamptz), so the database does not read it in its session zone."""
    if getattr(column.type, "timezone", False):
        return column >= cursor.replace(tzinfo=timezone.utc)
    return column >= cursor


def incremental_table_asset(obj: SourceObject) -> dg.AssetsDefinition:
    @dg.asset(**raw_asset_kwargs(obj))
    def _table(context: dg.AssetExecutionContext, warehouse: Warehouse,
               product_db: ProductDBResource) -> dg.MaterializeResult:
        cursor = warehouse_cursor(warehouse, obj)
        # `>=`, not `>`: a row written in the same instant as the last loaded one,
        # but after our read, must not be skipped; re-reading the boundary rows is
        # harmless because the write is an upsert by key.
        frame = _read(product_db, obj, order_by=obj.cursor,
                      where=None if cursor is None else (lambda t: _since(t.c[obj.cursor], cursor)))
        load_id = "full" if cursor is None else f"{obj.cursor}>={cursor.isoformat()}"
        return load(context, warehouse, obj, frame, load_id=load_id,
                    extra_metadata={"cursor_from": cursor.isoformat() if cursor else "full load"})

    return _table


table_assets = [incremental_table_asset(o) for o in INCREMENTAL]


# ----------------------------------------------------------- daily usage

USAGE_PARTITIONS = daily_partitions(include_today=True)


@dg.asset(**raw_asset_kwargs(USAGE), partitions_def=USAGE_PARTITIONS,
          backfill_policy=dg.BackfillPolicy.single_run())
def feature_usage_daily(context: dg.AssetExecutionContext, warehouse: Warehouse,
                        product_db: ProductDBResource) -> dg.MaterializeResult:
    def fetch(start: date, end: date) -> pd.DataFrame:
        column = USAGE.partition_column
        return _read(product_db, USAGE, where=lambda t: (t.c[column] >= start) & (t.c[column] < end))

    return load_days(context, warehouse, USAGE, fetch)


# ----------------------------------------------------------- jobs and schedules

tables_job = dg.define_asset_job(
    "product_db_tables_job", selection=dg.AssetSelection.assets(*table_assets),
    description="Product DB plans, accounts, users and setup steps, incrementally.")
usage_job = dg.define_asset_job(
    "product_db_usage_job", selection=dg.AssetSelection.assets(feature_usage_daily),
    description="Product DB daily feature usage for one day or a range.")

tables_hourly = dg.ScheduleDefinition(
    name="product_db_tables_hourly", job=tables_job, cron_schedule="0 * * * *",
    default_status=settings.schedule_default_status())


@dg.schedule(name="product_db_usage_hourly", job=usage_job, cron_schedule="10 * * * *",
             default_status=settings.schedule_default_status())
def usage_hourly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Refresh today's partial day every hour; the first tick of a day also closes
    the day before, whose last hour the previous tick could not yet see."""
    now = context.scheduled_execution_time
    ticks = [now - timedelta(days=1), now] if now.hour == 0 else [now]
    days = [USAGE_PARTITIONS.get_partition_key_for_timestamp(t.timestamp()) for t in ticks]
    return [dg.RunRequest(run_key=day, partition_key=day) for day in days]


defs = dg.Definitions(
    assets=[*table_assets, feature_usage_daily],
    jobs=[tables_job, usage_job],
    schedules=[tables_hourly, usage_hourly],
)
