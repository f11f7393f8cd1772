"""The models stage's Definitions: the dbt assets, a daily dbt build, the dbt resource."""

import dagster as dg

from cs_platform import settings
from cs_platform.models.assets import dbt_models
from cs_platform.models.project import dbt_cli

# The whole dbt project once a day. Raw tables load more often; the models are
# rebuilt from whatever has landed by then (the incremental ones add only new days).
dbt_build_job = dg.define_asset_job(
    "dbt_build", selection=dg.AssetSelection.assets(dbt_models),
    description="dbt build: seeds, models and tests of the whole dbt project.")
dbt_build_daily = dg.ScheduleDefinition(
    name="dbt_build_daily", job=dbt_build_job, cron_schedule="30 5 * * *",
    default_status=settings.schedule_default_status())

defs = dg.Definitions(
    assets=[dbt_models],
    jobs=[dbt_build_job],
    schedules=[dbt_build_daily],
    resources={"dbt": dbt_cli()},
)
