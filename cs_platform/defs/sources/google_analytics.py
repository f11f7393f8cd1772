"""Google Analytics 4: page views per account, host and day (Data API runReport).

Partitioned by day like product usage, through the same helper: a range of days
is one report and one atomic write. Only complete days are partitions (today's
GA4 numbers are still being processed); the daily schedule loads yesterday.
"""

from datetime import date, timedelta

import dagster as dg

from cs_platform import settings
from cs_platform.resources.google_analytics import GoogleAnalyticsResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.loading import raw_asset_kwargs
from cs_platform.sources.partitions import daily_partitions, load_days

PAGE_VIEWS = catalog.get("google_analytics", "page_views_daily")
# GA4 API names; the raw column is the name with ":" as "_" (customEvent:account_id).
DIMENSIONS = ("date", "customEvent:account_id", "hostName")
METRICS = ("screenPageViews", "sessions", "activeUsers")
assert [n.replace(":", "_") for n in (*DIMENSIONS, *METRICS)] == list(PAGE_VIEWS.columns), \
    "GA4 report fields out of step with the catalog"

GA4_PARTITIONS = daily_partitions(include_today=False)


@dg.asset(
    **raw_asset_kwargs(PAGE_VIEWS),
    partitions_def=GA4_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def page_views_daily(context: dg.AssetExecutionContext, warehouse: Warehouse,
                     google_analytics: GoogleAnalyticsResource) -> dg.MaterializeResult:
    def fetch(start: date, end: date) -> list[dict]:
        # GA4 date ranges include their end date; ours excludes it.
        rows = google_analytics.report_rows(start, end - timedelta(days=1), DIMENSIONS, METRICS)
        return [{name.replace(":", "_"): value for name, value in row.items()} for row in rows]

    return load_days(context, warehouse, PAGE_VIEWS, fetch)


ga4_job = dg.define_asset_job(
    "google_analytics_job", selection=dg.AssetSelection.assets(page_views_daily),
    description="GA4 page views for one day or a range.")

# Daily, for the latest complete day (yesterday); 06:00 UTC leaves GA4 time to process it.
ga4_daily = dg.build_schedule_from_partitioned_job(
    ga4_job, name="google_analytics_daily", hour_of_day=6,
    default_status=settings.schedule_default_status())

defs = dg.Definitions(assets=[page_views_daily], jobs=[ga4_job], schedules=[ga4_daily])
