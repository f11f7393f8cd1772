"""dbt as soon as a day's product usage has landed, not at the next 05:30 tick.

Product usage is the input that moves health scores, anomalies and so the plays:
`product_db_usage_hourly` closes day D with its first tick after midnight, and
without this sensor the models waited for `dbt_build_daily` (05:30 UTC), so a drop
on D reached its CSM five and a half hours later than it could. The sensor launches
the same `dbt_build` job (an incremental daily run) when D's partition lands; the
plays and syncs then follow from `account_segments` through their own sensors.

Only the partition of the day that just closed counts (D landed on D + 1), loaded
on its own: the hourly refreshes of today's partial day, backfills (a run over a
range of days, or part of a backfill, such as a first load of the history) and late
corrections of older days are left to the daily schedule (which also picks up the
late-data watermarks). Several landings between two ticks give one run.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from cs_platform.defs.models.dbt import dbt_build_job
from cs_platform.sources import catalog

USAGE_KEY = dg.AssetKey(catalog.get("product_db", "feature_usage_daily").asset_key_path)


@dg.sensor(name="dbt_after_usage_landed", job=dbt_build_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs dbt_build when the product DB's usage partition of the day that just "
                       "closed has landed, so scores, anomalies and plays follow within minutes.")
def dbt_after_usage_landed(context: dg.SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else None
    if after is None:
        # First evaluation: start from now, never replay the history as new landings.
        latest = context.instance.fetch_materializations(USAGE_KEY, limit=1).records
        context.update_cursor(str(latest[0].storage_id if latest else 0))
        return dg.SkipReason("started watching the usage partitions")
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=USAGE_KEY, after_storage_id=after), limit=1000, ascending=True)
    if not result.records:
        return dg.SkipReason("no usage partition landed since the last tick")
    closed = [r for r in result.records
              if r.partition_key == _day_before(r.timestamp) and not _backfill(context.instance, r.run_id)]
    context.update_cursor(str(result.records[-1].storage_id))
    if not closed:
        return dg.SkipReason(f"{len(result.records)} usage partition(s) landed, none of a day that just closed")
    days = sorted({r.partition_key for r in closed})
    return dg.RunRequest(run_key=f"usage-landed-{closed[-1].storage_id}",
                         tags={"cs_platform/usage_landed": ",".join(days)})


def _backfill(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id) if run_id else None
    tags = run.tags if run else {}
    return "dagster/backfill" in tags or "dagster/asset_partition_range_start" in tags


def _day_before(timestamp: float) -> str:
    return (datetime.fromtimestamp(timestamp, tz=timezone.utc).date() - timedelta(days=1)).isoformat()
