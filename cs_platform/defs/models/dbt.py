"""The dbt project as one Dagster multi-asset: every model, seed and snapshot an
asset, every dbt test an asset check.

One `dbt build` runs seeds, snapshots, models and tests in dependency order. The
snapshots (dbt/snapshots: the history of CRM fields such as the CSM impression)
run before the models that score each day with the value that held on it. A test with
severity `error` is a blocking check: dbt skips the models downstream of it, and
Dagster does not start the syncs downstream of those, so no CRM receives scores
computed from bad data. When a test fails, its query (compiled by this run) is
run again once dbt has exited and the rows it finds are named in the check's
result, e.g. the duplicated Salesforce Account Ids. Nothing is stored for tests
that pass: dbt's `store_failures` would cost a view per test on every run.

Each built model's materialization carries its row count, and the marts CS ops
reads their figures (band counts, at-risk and upsell renewals, anomalies, a
markdown preview of the red accounts and the next renewals: cs_platform/models/figures.py),
read once dbt has exited.

A raw table whose loader's blocking check failed in an earlier run (a column the
models read is gone, a key in two export files) is not read either: the models
downstream of its dbt source are excluded from the build (`--exclude
source:<source>+`) and the run fails naming the table and the check, until a load
passes the check again.
"""


import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from cs_platform import settings
from cs_platform.checks import failing
from cs_platform.models.project import dbt_cli, dbt_project, require_manifest
from cs_platform.models.results import translator, with_failing_rows, with_row_counts, without_dbt_ids_in_check
from cs_platform.models.translator import SOURCE_PREFIX
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources.loading import CHECK_COLUMNS, CHECK_PRIMARY_KEY

require_manifest()

LOADER_BLOCKING_CHECKS = (CHECK_PRIMARY_KEY, CHECK_COLUMNS)  # the raw loaders' blocking checks


class DbtBuildConfig(dg.Config):
    as_of_date: str | None = Field(
        default=None,
        description="The day the models treat as today (YYYY-MM-DD); unset: the current date. "
                    "Pin it to rebuild a past day reproducibly.")
    full_refresh: bool = Field(
        default=False,
        description="Rebuild incremental models (daily usage, score history) from all history. "
                    "Not needed after editing the score seeds: the next run re-scores history on its own. "
                    "Snapshots (the CRM history) are kept: dbt never rebuilds them.")
    late_data_max_days: int | None = Field(
        default=None,
        description="How far back a run looks for days whose raw rows were (re-)loaded since the last "
                    "run, to recompute them (dbt var late_data_max_days, default 60). Raise it for the "
                    "run after backfilling older raw partitions.")


def build_args(config: DbtBuildConfig) -> list[str]:
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    dbt_vars = {"as_of_date": config.as_of_date, "late_data_max_days": config.late_data_max_days}
    dbt_vars = {name: value for name, value in dbt_vars.items() if value is not None}
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return args


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dbt_models",
    # DuckDB admits one writing process: dbt shares the warehouse pool with the loaders.
    pool=settings.WAREHOUSE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse,
               config: DbtBuildConfig):
    blocked = blocked_raw_tables(context)
    args = build_args(config)
    if blocked:
        args += ["--exclude", *(f"source:{SOURCE_PREFIX}{key.path[1]}.{key.path[2]}+" for key in blocked)]
        context.log.warning("not building the models downstream of %s: their blocking checks failed",
                            ", ".join(k.to_user_string() for k in blocked))
    invocation = dbt.cli(args, context=context, raise_on_error=False)
    failed_checks: list[dg.AssetCheckResult] = []
    outputs: list[dg.Output] = []
    for event in invocation.stream():
        if isinstance(event, dg.AssetCheckResult) and not event.passed:
            failed_checks.append(event)  # reported below, once dbt has released the warehouse
            continue
        if isinstance(event, dg.Output):
            outputs.append(event)  # row counts and mart figures are added below, for the same reason
            continue
        yield without_dbt_ids_in_check(event) if isinstance(event, dg.AssetCheckResult) else event
    yield from with_row_counts(outputs, invocation.manifest, warehouse, context.log)

    # This run's own manifest: its relation names (e.g. the DuckDB file's catalog)
    # are those of the warehouse the tests just ran against.
    try:
        manifest = invocation.get_artifact("manifest.json")
    except Exception:  # dbt failed before writing one
        manifest = invocation.manifest
    summaries = []
    for check in failed_checks:
        enriched = with_failing_rows(check, manifest, warehouse, context.log)
        summaries.append(f"{check.asset_key.to_user_string()}: {enriched.description}")
        yield enriched

    if not invocation.is_successful():
        errors = summaries or ["see the dbt log above"]
        raise dg.Failure(
            description="dbt build did not succeed; models downstream of a failure were skipped.\n"
                        + "\n".join(f"- {line}" for line in errors),
            metadata={"failed_checks": len(failed_checks)},
        )
    if blocked:
        raise dg.Failure(
            description="models downstream of raw tables whose blocking checks failed were not built:\n"
                        + "\n".join(f"- {key.to_user_string()}: {', '.join(checks)} (fix the source and "
                                     f"load it again; docs/operations.md)" for key, checks in blocked.items()),
            metadata={"blocked_raw_tables": dg.MetadataValue.json(
                {k.to_user_string(): v for k, v in blocked.items()})})


def blocked_raw_tables(context: dg.AssetExecutionContext) -> dict[dg.AssetKey, list[str]]:
    """Raw tables the models read whose loader's latest blocking check failed."""
    raw = [key for key in context.assets_def.dependency_keys if key.path[0] == "raw"]
    keys = [dg.AssetCheckKey(key, name) for key in raw for name in LOADER_BLOCKING_CHECKS]
    blocked: dict[dg.AssetKey, list[str]] = {}
    for check in failing(context.instance, keys):
        blocked.setdefault(check.asset_key, []).append(check.name)
    return blocked


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
