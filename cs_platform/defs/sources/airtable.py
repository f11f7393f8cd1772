"""Airtable: feature requests logged by CSMs.

The API has no modified-since filter, so every run reads the whole table and
replaces the raw table with it in one transaction (a record deleted in Airtable
disappears here too).
"""


import dagster as dg

from cs_platform import settings
from cs_platform.resources.airtable import AirtableResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.loading import load, raw_asset_kwargs

FEATURE_REQUESTS = catalog.get("airtable", "feature_requests")


@dg.asset(
    **raw_asset_kwargs(FEATURE_REQUESTS),
)
def feature_requests(context: dg.AssetExecutionContext, warehouse: Warehouse,
                     airtable: AirtableResource) -> dg.MaterializeResult:
    records = airtable.list_records(FEATURE_REQUESTS.api_name)
    return load(context, warehouse, FEATURE_REQUESTS, records,
                load_id=context.run.run_id, replace_all=True)


airtable_job = dg.define_asset_job(
    "airtable_job", selection=dg.AssetSelection.assets(feature_requests),
    description="Airtable feature requests, full refresh.")

airtable_every_6h = dg.ScheduleDefinition(
    name="airtable_every_6h", job=airtable_job, cron_schedule="0 */6 * * *",
    default_status=settings.schedule_default_status())

defs = dg.Definitions(assets=[feature_requests], jobs=[airtable_job], schedules=[airtable_every_6h])
