"""Each declared sync as a Dagster asset `sync/<destination>/<name>`, downstream of
its dbt model, plus the jobs, schedule and automation sensor that run them.

Why an asset per sync: lineage then runs from the raw tool data through dbt to
the CRM writeback, and each sync's history (counts, API calls, guard decision,
sample changes) sits on its own asset page.

Triggering: a sync runs when its model has been updated *and* the model's
blocking checks passed (`AutomationCondition.eager() &
all_deps_blocking_checks_passed()`), evaluated by `activation_automation_sensor`.
The asset itself checks again before sending: a manual or scheduled run of a sync
whose model's latest blocking check failed refuses, so a bad model never reaches
the CRM whatever started the run. The schedule is the fallback (and retries failed
records on days the model does not change).

Checks on each sync asset, evaluated by the sync itself:
- `crm_schema` (blocking): the preflight of the mapping against the CRM's own
  schema (Salesforce describe, HubSpot properties), before the run's first write
  and on every dry run; a failure sends nothing and names the field and the fix.
- `unique_keys` (blocking): no key is shared by several model rows; else nothing
  is sent and the keys are named.
- `record_failures`: the share of sent records the CRM refused: WARN above
  `record_failures.warn_share`, ERROR (and a failed run, whose alert names the
  first records and the CRM's reasons) above `error_share`; dead letters listed.
"""


from collections import defaultdict
from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from cs_platform import settings
from cs_platform.activation.destinations import connect
from cs_platform.activation.engine import SyncAborted, SyncFailed, SyncOutcome, run_sync
from cs_platform.activation.spec import SyncSpec, resolve_table
from cs_platform.activation.state import SyncLease, SyncStore
from cs_platform.checks import failing

GROUP = "activation"
DRY_RUN_JOB = "activation_dry_run"
SYNC_JOB = "activation_syncs"
AUTOMATION_SENSOR = "activation_automation_sensor"
CRM_SCHEMA_CHECK, UNIQUE_KEYS_CHECK, RECORD_FAILURES_CHECK = "crm_schema", "unique_keys", "record_failures"
FINISHED_RUN_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


class SyncRunConfig(dg.Config):
    dry_run: bool = Field(
        default=False,
        description="Compute and show the plan (counts and sample field changes) as an asset "
                    "observation; send nothing, write no sync state.")
    override_guards: bool = Field(
        default=False,
        description="Send even when the mass-change or shrink guard would refuse. For this run only.")


def sync_automation_condition() -> dg.AutomationCondition:
    """Run after the model updates, only once its blocking checks passed."""
    return (dg.AutomationCondition.eager()
            & dg.AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        "eager, after the model's blocking checks passed")


def failed_blocking_checks(context: dg.AssetExecutionContext, model_key: dg.AssetKey) -> list[str]:
    """Blocking checks of the model whose latest evaluation failed (severity ERROR)."""
    try:
        graph = context.repository_def.asset_graph
    except Exception:  # noqa: BLE001 - run outside a code location (dg.materialize): the job's graph
        graph = context.job_def.asset_layer.asset_graph.source_asset_graph
    if not graph.has(model_key):
        return []
    keys = [k for k in graph.get(model_key).check_keys if graph.get_check_spec(k).blocking]
    return sorted(k.name for k in failing(context.instance, keys))


def _source_table(spec: SyncSpec, warehouse) -> str:
    table = resolve_table(spec)
    # The manifest names BigQuery datasets with the deployment prefix; the warehouse adds it itself.
    prefix = getattr(warehouse, "dataset_prefix", "") or ""
    schema, name = table.split(".")
    if prefix and schema.startswith(prefix):
        table = f"{schema[len(prefix):]}.{name}"
    return table


def outcome_metadata(out: SyncOutcome, table: str) -> dict:
    md: dict = {
        "outcome": out.outcome,
        "source_table": table,
        "source_rows": out.source_rows,
        "planned": out.planned,
        "planned_creates": out.planned_creates,
        "planned_updates": out.planned_updates,
        "retried_failed": out.retrying,
        "sent": out.sent,
        "succeeded": out.succeeded,
        "created": out.created,
        "updated": out.updated,
        "failed": out.failed,
        "unchanged": out.unchanged,
        "invalid": out.invalid,
        "deferred": out.deferred,
        "reconciled_after_crash": out.reconciled,
        "adopted_existing": out.adopted,
        "never_synced": out.never_synced,
        "dead_letter": out.dead_letter,
        "split_calls": out.split_calls,
        "failure_share": dg.MetadataValue.float(round(out.failure_share, 4)),
        "api_calls": out.api_calls,
        "api_write_calls": out.write_calls,
        "batches": dg.MetadataValue.json(out.batches or {}),
        "duration_s": dg.MetadataValue.float(float(out.duration_s)),
        "guard_decision": out.guard_decision,
        "previously_synced": out.previously_synced,
        "changed_previously_synced": out.changed_previously_synced,
        "previous_source_rows": out.previous_source_rows if out.previous_source_rows is not None else -1,
        "dry_run": out.dry_run,
    }
    if out.api_usage:
        md["salesforce_api_usage"] = out.api_usage
    if out.message:
        md["message"] = out.message
    md["changes_sample"] = dg.MetadataValue.md(changes_markdown(out.changes_sample))
    if out.failed_sample:
        md["failed_sample"] = dg.MetadataValue.json(out.failed_sample)
    if out.invalid_sample:
        md["invalid_sample"] = dg.MetadataValue.json(out.invalid_sample)
    if out.dead_letter_sample:
        md["dead_letter_sample"] = dg.MetadataValue.json(out.dead_letter_sample)
    if out.duplicate_keys:
        md["duplicate_keys"] = dg.MetadataValue.json(out.duplicate_keys[:100])
    if out.preflight:
        md["preflight_problems"] = dg.MetadataValue.json(out.preflight)
    return md


def check_specs(spec: SyncSpec) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(CRM_SCHEMA_CHECK, asset=spec.asset_key, blocking=True,
                          description=f"The mapping fits {spec.destination} {spec.object}'s own schema: every "
                                      f"field exists and is writable, types fit, the key is an External ID / "
                                      f"unique property. Checked before each run's first write and on dry runs."),
        dg.AssetCheckSpec(UNIQUE_KEYS_CHECK, asset=spec.asset_key, blocking=True,
                          description=f"No {spec.key_column} is shared by several rows of {spec.model}."),
        dg.AssetCheckSpec(RECORD_FAILURES_CHECK, asset=spec.asset_key,
                          description=f"Share of the model's records {spec.destination} refused this run: warns above "
                                      f"{spec.failure_warn_share:.0%}, fails above {spec.failure_error_share:.0%}."),
    ]


def check_results(spec: SyncSpec, out: SyncOutcome) -> list[dg.AssetCheckResult]:
    results = []
    if out.preflight is None:
        results.append(dg.AssetCheckResult(
            check_name=CRM_SCHEMA_CHECK, passed=True,
            metadata={"evaluated": "no: nothing to send this run (checked before a run's first write)"}))
    else:
        results.append(dg.AssetCheckResult(
            check_name=CRM_SCHEMA_CHECK, passed=not out.preflight, severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(out.preflight)[:2000] or None,
            metadata={"problems": dg.MetadataValue.json(out.preflight), "evaluated": "yes"}))
    results.append(dg.AssetCheckResult(
        check_name=UNIQUE_KEYS_CHECK, passed=not out.duplicate_keys, severity=dg.AssetCheckSeverity.ERROR,
        description=(f"{len(out.duplicate_keys)} duplicate key(s): {', '.join(out.duplicate_keys[:10])}"
                     if out.duplicate_keys else None),
        metadata={"duplicate_keys": dg.MetadataValue.json(out.duplicate_keys[:100])}))
    share = out.failure_share
    error = share > spec.failure_error_share
    results.append(dg.AssetCheckResult(
        check_name=RECORD_FAILURES_CHECK, passed=share <= spec.failure_warn_share,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        description=failures_text(out) if out.failed else None,
        metadata={"sent": out.sent, "failed": out.failed, "failure_share": dg.MetadataValue.float(round(share, 4)),
                  "dead_letter": out.dead_letter,
                  "failed_sample": dg.MetadataValue.json(out.failed_sample),
                  "dead_letter_sample": dg.MetadataValue.json(out.dead_letter_sample)}))
    return results


def failures_text(out: SyncOutcome, limit: int = 5) -> str:
    first = "; ".join(f"{f['key']}: {f['error_code']} {f['error_message']}"[:200] for f in out.failed_sample[:limit])
    return (f"{out.failed} records were refused ({out.failure_share:.0%} of the model's {out.source_rows} rows; "
            f"{out.sent} sent this run); first: {first}"
            + (f". {out.dead_letter} record(s) are dead letters (refused repeatedly with the same payload; "
               f"sent again once it changes)" if out.dead_letter else ""))


def changes_markdown(sample: Sequence[dict]) -> str:
    if not sample:
        return "_no changes_"
    lines = ["| key | operation | field | last synced | to send |", "|---|---|---|---|---|"]
    for item in sample:
        op = item["operation"] + (" (retry)" if item.get("retry") else "")
        fields = item["fields"] or {"(no field change)": {"before": "", "after": ""}}
        for name, change in fields.items():
            lines.append(f"| {item['key']} | {op} | {name} | {_cell(change['before'])} | {_cell(change['after'])} |")
    return "\n".join(lines)


def _cell(value) -> str:
    text = "∅" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def build_sync_asset(spec: SyncSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.asset_key,
        deps=[spec.model_key],
        description=spec.describe(),
        group_name=GROUP,
        kinds={spec.destination, settings.warehouse_kind()},
        owners=[settings.OWNER],
        pool=settings.WAREHOUSE_POOL,
        automation_condition=sync_automation_condition() if spec.automation else None,
        required_resource_keys={"warehouse", spec.destination},
        check_specs=check_specs(spec),
        output_required=False,  # a dry run records an observation, not a materialization
        metadata={
            "model": spec.model,
            "destination_object": f"{spec.destination} {spec.object}",
            "mode": spec.mode,
            "key": f"{spec.key_column} -> {spec.key_field}",
            "fields": dg.MetadataValue.json({m.column: m.field for m in spec.fields}),
            "guards": dg.MetadataValue.json({"max_change_share": spec.max_change_share,
                                             "change_fields": list(spec.change_fields or ["(all)"]),
                                             "max_shrink_share": spec.max_shrink_share}),
        },
        tags={"cs_platform/sync": spec.name},
    )
    def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig):
        failed = failed_blocking_checks(context, spec.model_key)
        if failed:
            raise dg.Failure(
                description=f"sync '{spec.name}' did not run: the latest blocking check(s) {failed} of model "
                            f"{spec.model!r} failed. Fix the model and rebuild it; the sync follows.",
                allow_retries=False)
        warehouse = context.resources.warehouse
        table = _source_table(spec, warehouse)
        resource = getattr(context.resources, spec.destination)

        def finished(run_id: str) -> bool:  # a lease holder whose Dagster run ended is gone
            run = context.instance.get_run_by_id(run_id)
            return run is not None and run.status in FINISHED_RUN_STATUSES

        lease = None if config.dry_run else SyncLease(SyncStore(warehouse, spec.name), context.run.run_id,
                                                      finished=finished)
        try:
            out = run_sync(spec, warehouse, lambda: connect(spec, resource), table=table,
                           run_id=context.run.run_id, dry_run=config.dry_run,
                           override_guards=config.override_guards, log=context.log, lease=lease)
        except (SyncAborted, SyncFailed) as exc:
            if exc.outcome.preflight or exc.outcome.duplicate_keys:
                yield from check_results(spec, exc.outcome)[:2]
            raise dg.Failure(description=f"sync/{spec.destination}/{spec.name}: {exc}",
                             metadata=outcome_metadata(exc.outcome, table), allow_retries=False) from None
        metadata = outcome_metadata(out, table)
        if config.dry_run:
            context.log.info("dry run of sync '%s': %s planned (%s creates, %s updates), %s unchanged, %s invalid; "
                             "guards: %s; preflight: %s", spec.name, out.planned, out.planned_creates,
                             out.planned_updates, out.unchanged, out.invalid, out.guard_decision,
                             "; ".join(out.preflight or []) or "passed")
            yield dg.AssetObservation(asset_key=spec.asset_key, metadata=metadata,
                                      description="Dry run: the plan; nothing was sent.")
            yield from check_results(spec, out)
            return
        context.log.info("sync '%s': %s sent, %s succeeded (%s created, %s updated), %s failed, %s unchanged, "
                         "%s invalid, %s dead letters, %s API calls", spec.name, out.sent, out.succeeded,
                         out.created, out.updated, out.failed, out.unchanged, out.invalid, out.dead_letter,
                         out.api_calls)
        yield dg.MaterializeResult(metadata=metadata, check_results=check_results(spec, out))
        if out.failure_share > spec.failure_error_share:
            raise dg.Failure(description=f"sync/{spec.destination}/{spec.name}: {failures_text(out, 10)}",
                             allow_retries=False)

    return _sync


def build_definitions(specs: Sequence[SyncSpec]) -> dg.Definitions:
    assets = [build_sync_asset(s) for s in specs]
    keys = [s.asset_key for s in specs]
    if not specs:
        return dg.Definitions()
    selection = dg.AssetSelection.assets(*keys)
    jobs = [
        dg.define_asset_job(
            DRY_RUN_JOB, selection=selection,
            description="Plan every sync without sending: counts and sample field-level changes are "
                        "recorded on each sync asset as an observation. Nothing reaches the CRM.",
            config={"ops": {s.op_name: {"config": {"dry_run": True, "override_guards": False}}
                            for s in specs}},
            tags={"cs_platform/dry_run": "true"}),
        dg.define_asset_job(SYNC_JOB, selection=selection,
                            description="Run every reverse-ETL sync (what the fallback schedule runs)."),
    ]
    by_cron: dict[str, list[dg.AssetKey]] = defaultdict(list)
    for s in specs:
        if s.schedule:
            by_cron[s.schedule].append(s.asset_key)
    schedules = []
    for i, (cron, cron_keys) in enumerate(sorted(by_cron.items())):
        name = "activation_fallback_schedule" + (f"_{i + 1}" if len(by_cron) > 1 else "")
        target = jobs[1] if len(by_cron) == 1 and len(cron_keys) == len(keys) else \
            dg.define_asset_job(f"{SYNC_JOB}_{i + 1}", selection=dg.AssetSelection.assets(*cron_keys))
        if target is not jobs[1]:
            jobs.append(target)
        schedules.append(dg.ScheduleDefinition(
            name=name, cron_schedule=cron, job=target, execution_timezone="UTC",
            default_status=settings.schedule_default_status(),
            description="Fallback for the automation sensor: runs the syncs even when no model changed, "
                        "which also retries records that failed."))
    automated = [s.asset_key for s in specs if s.automation]
    sensors = []
    if automated:
        sensors.append(dg.AutomationConditionSensorDefinition(
            AUTOMATION_SENSOR, target=dg.AssetSelection.assets(*automated),
            default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
            description="Runs each sync after its dbt model is updated and the model's blocking checks "
                        "passed. On by default: the syncs are diff-based and guarded, and a model only "
                        "changes when someone (or a schedule) rebuilds it."))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors)
