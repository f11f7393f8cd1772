"""Each declared play as the Dagster asset `play/<name>`, downstream of
`account_segments`, plus the plays' jobs, fallback schedule and automation sensor.

A play runs when `account_segments` has been updated and its blocking checks
passed (the same condition as the syncs), on the fallback schedule, or by hand.
A play switched off (`enabled: false`) or run with `dry_run: true` records an
observation with what it would send today: the messages, the Tasks, the counts.
"""


from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from cs_platform import settings
from cs_platform.activation.assets import FINISHED_RUN_STATUSES, failed_blocking_checks, sync_automation_condition
from cs_platform.activation.destinations import connect
from cs_platform.activation.plays.component import SEGMENT_MODEL, Play
from cs_platform.activation.plays.digest import run_digest
from cs_platform.activation.plays.engine import Channels, PlayOutcome, PlayRefused, run_play
from cs_platform.activation.spec import SyncConfigError, model_node, read_manifest, relation_of
from cs_platform.activation.state import SyncLease, SyncStore

GROUP = "plays"
PLAYS_JOB, PLAYS_DRY_RUN_JOB = "plays", "plays_dry_run"
PLAYS_SENSOR, PLAYS_SCHEDULE = "plays_automation_sensor", "plays_fallback_schedule"
DELIVERIES_CHECK = "deliveries"
DESTINATION = {"alert": "slack", "task": "salesforce", "action": "hubspot"}


class PlayRunConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Show what the play would send today; send and record nothing.")
    override_guards: bool = Field(default=False, description="Let one run fire above max_firings_per_run.")


def model_table(warehouse, model: str = SEGMENT_MODEL) -> str:
    """schema.table of a dbt model, from the dbt manifest (without the deployment prefix)."""
    manifest = read_manifest()
    node = model_node(manifest, model) if manifest else None
    if node is None:
        raise SyncConfigError(f"the dbt manifest has no model {model!r}; run `make manifest`")
    schema, name = relation_of(node).split(".")
    prefix = getattr(warehouse, "dataset_prefix", "") or ""
    if prefix and schema.startswith(prefix):
        schema = schema[len(prefix):]
    return f"{schema}.{name}"


def outcome_metadata(out: PlayOutcome) -> dict:
    md = {
        "outcome": out.outcome, "as_of_date": str(out.as_of), "in_segment": out.members, "entered": out.entered,
        "exited": out.exited, "fired": out.fired, "sent": out.sent, "failed": out.failed,
        "retried_from_earlier_runs": out.retried, "given_up": out.given_up, "baseline": out.baseline,
        "suppressed_cooldown": out.suppressed_cooldown, "suppressed_open_task": out.suppressed_open_task,
        "dry_run": out.dry_run,
        "preview": dg.MetadataValue.md(preview_markdown(out)),
    }
    if out.message:
        md["message"] = out.message
    if out.failures:
        md["failures"] = dg.MetadataValue.json(out.failures)
    if out.syncs:
        md["syncs"] = dg.MetadataValue.json(out.syncs)
    return md


def preview_markdown(out: PlayOutcome) -> str:
    if not out.preview:
        return "_nothing to send_"
    lines = ["| account | event | to | message |", "|---|---|---|---|"]
    for item in out.preview:
        text = item["message"].replace("|", "\\|").replace("\n", "<br>")
        lines.append(f"| {item['account_id']} | {item['event']} | {item['recipient']} | {text[:400]} |")
    return "\n".join(lines)


def deliveries_check(out: PlayOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=DELIVERIES_CHECK, passed=not out.failed and not out.given_up,
        severity=dg.AssetCheckSeverity.ERROR if out.given_up else dg.AssetCheckSeverity.WARN,
        description=(f"{out.failed} firing(s) failed to send (retried next run), {out.given_up} given up; first: "
                     + "; ".join(f"{f['account_id']}: {f['error']}"[:200] for f in out.failures[:5])
                     if out.failed or out.given_up else None),
        metadata={"sent": out.sent, "failed": out.failed, "given_up": out.given_up})


def build_play_asset(play: Play) -> dg.AssetsDefinition:
    destination = DESTINATION[play.level]
    resources = {"warehouse", destination} | ({"slack"} if play.slack else set())

    @dg.asset(
        key=play.asset_key,
        deps=[dg.AssetKey([SEGMENT_MODEL])],
        description=play.describe(),
        group_name=GROUP,
        kinds={destination, settings.warehouse_kind()},
        owners=[settings.OWNER],
        pool=settings.WAREHOUSE_POOL,
        automation_condition=sync_automation_condition() if play.automation else None,
        required_resource_keys=resources,
        check_specs=[dg.AssetCheckSpec(
            DELIVERIES_CHECK, asset=play.asset_key,
            description="Every firing of the run was delivered: warns when some failed (they are retried on the "
                        f"next run), fails when a firing failed {play.max_attempts} runs in a row.")],
        output_required=False,
        metadata={"segment": play.segment, "level": play.level, "cooldown_days": play.cooldown_days,
                  "first_run": play.first_run, "enabled": play.enabled},
        tags={"cs_platform/play": play.name},
    )
    def _play(context: dg.AssetExecutionContext, config: PlayRunConfig):
        failed = failed_blocking_checks(context, dg.AssetKey([SEGMENT_MODEL]))
        if failed:
            raise dg.Failure(description=f"play '{play.name}' did not run: the latest blocking check(s) {failed} "
                                         f"of {SEGMENT_MODEL} failed", allow_retries=False)
        warehouse = context.resources.warehouse
        dry_run = config.dry_run or not play.enabled

        def finished(run_id: str) -> bool:
            run = context.instance.get_run_by_id(run_id)
            return run is not None and run.status in FINISHED_RUN_STATUSES

        def factory(spec):
            resource = getattr(context.resources, spec.destination)
            return lambda: connect(spec, resource)

        channels = Channels(slack=getattr(context.resources, "slack", None), destination_factory=factory)
        lease = None if dry_run else SyncLease(SyncStore(warehouse, f"play:{play.name}"), context.run.run_id,
                                               finished=finished)
        if lease:
            lease.acquire()
        try:
            out = run_play(play, warehouse, channels, segment_table=model_table(warehouse),
                           run_id=context.run.run_id, dry_run=dry_run, override_guards=config.override_guards,
                           log=context.log, salesforce_url=settings.salesforce_record_url)
        except PlayRefused as exc:
            raise dg.Failure(description=str(exc), metadata=outcome_metadata(exc.outcome),
                             allow_retries=False) from None
        finally:
            if lease:
                lease.release()
        metadata = outcome_metadata(out)
        if out.dry_run:
            yield dg.AssetObservation(asset_key=play.asset_key, metadata=metadata,
                                      description="Dry run: what the play would send today; nothing was sent.")
            yield deliveries_check(out)
            return
        yield dg.MaterializeResult(metadata=metadata, check_results=[deliveries_check(out)])

    return _play


DIGEST_KEY = dg.AssetKey(["play", "morning_digest"])
FIRINGS_KEY = dg.AssetKey(["play", "firings"])
DIGEST_MODELS = ("account_segments", "health_score_changes", "usage_anomalies", "account_360")


def build_digest_asset(channel: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=DIGEST_KEY, deps=[dg.AssetKey([m]) for m in DIGEST_MODELS], group_name=GROUP,
        description=f"The CS team's morning message in {channel}: accounts that entered or left each segment, "
                    f"bands that got worse, new anomalies and renewals entering 90 days, since the previous day.",
        kinds={"slack", settings.warehouse_kind()}, owners=[settings.OWNER], pool=settings.WAREHOUSE_POOL,
        automation_condition=sync_automation_condition(), required_resource_keys={"warehouse", "slack"},
        output_required=False,
    )
    def _digest(context: dg.AssetExecutionContext, config: PlayRunConfig):
        warehouse = context.resources.warehouse
        tables = {m: model_table(warehouse, m) for m in DIGEST_MODELS}
        digest = run_digest(warehouse, context.resources.slack, channel, tables, dry_run=config.dry_run)
        metadata = {"as_of_date": str(digest.as_of), "compared_with": str(digest.compared_with),
                    "posted": digest.posted, "already_posted_for_this_day": digest.already_posted,
                    "entered": sum(map(len, digest.entered.values())), "left": sum(map(len, digest.left.values())),
                    "worse_bands": len(digest.worse_bands), "new_anomalies": len(digest.anomalies),
                    "renewals_entering_window": len(digest.renewals), "text": dg.MetadataValue.md(digest.text)}
        if digest.posted:
            yield dg.MaterializeResult(metadata=metadata)
        else:
            yield dg.AssetObservation(asset_key=DIGEST_KEY, metadata=metadata,
                                      description="Not posted: " + ("already posted for this day of data"
                                                                    if digest.already_posted else "dry run"))

    return _digest


def build_play_definitions(plays: Sequence[Play], digest_channel: str | None = None) -> dg.Definitions:
    if not plays:
        return dg.Definitions()
    assets = [build_play_asset(p) for p in plays]
    if digest_channel:
        assets.append(build_digest_asset(digest_channel))
    # The firings table the plays write, read by dbt (account_activities, play_outcomes) as
    # source plays.play_firings: its lineage runs from the plays to those marts.
    assets.append(dg.AssetSpec(
        FIRINGS_KEY, deps=[p.asset_key for p in plays], group_name=GROUP, kinds={settings.warehouse_kind()},
        owners=[settings.OWNER], description="Every play decision (plays.play_firings): what each play sent to "
                                             "whom, or why not; written by the play assets, read by dbt."))
    keys = [p.asset_key for p in plays]
    selection = dg.AssetSelection.assets(*keys)
    jobs = [
        dg.define_asset_job(
            PLAYS_DRY_RUN_JOB, selection=selection,
            description="Every play's dry run: what it would send today, as an observation; nothing is sent.",
            config={"ops": {"__".join(p.asset_key.path): {"config": {"dry_run": True, "override_guards": False}}
                            for p in plays}},
            tags={"cs_platform/dry_run": "true"}),
        dg.define_asset_job(PLAYS_JOB, selection=selection,
                            description="Run every play (what the fallback schedule runs)."),
    ]
    schedules = [dg.ScheduleDefinition(
        name=PLAYS_SCHEDULE, cron_schedule="45 7 * * *", job=jobs[1], execution_timezone="UTC",
        default_status=settings.schedule_default_status(),
        description="Fallback for the automation sensor: runs the plays daily (also retries failed sends).")]
    automated = [p.asset_key for p in plays if p.automation] + ([DIGEST_KEY] if digest_channel else [])
    sensors = []
    if automated:
        sensors.append(dg.AutomationConditionSensorDefinition(
            PLAYS_SENSOR, target=dg.AssetSelection.assets(*automated),
            default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
            description="Runs each play after account_segments is updated and its blocking checks passed."))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors)
