"""Slack alerts for stale assets and failed ERROR checks on raw tables.

Open-source Dagster evaluates every asset's `FreshnessPolicy` (applied in
`cs_platform/freshness.py`) in its freshness daemon and shows the result in the UI,
but sends no alert. This sensor reads that same state from the instance
(`get_freshness_state_records`) and posts once when an asset turns stale (FAIL) and
once when it is fresh again, so Slack and the UI always agree. Raw tables' asset
checks of severity ERROR (duplicate keys, a load that wrote nothing) are handled
per partition: a partitioned raw table (a KARTE file, a product-usage day) runs its
checks once per partition loaded, so each failing (check, partition) gets one message,
and one more when that same partition's check passes again; a clean file loaded
after a bad one does not hide it. What has been announced lives in the sensor
cursor, so a restart neither repeats nor forgets an alert. The cursor stays small:
the failing (check, partition) pairs and the id of the last check execution read.

Every value from data (asset keys, partition and file names, check descriptions)
is escaped for Slack (`slack_escape`): `<!channel>` in a key must not ping anyone.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from cs_platform.resources.http import SourceError
from cs_platform.resources.slack import SlackResource, slack_code, slack_escape, slack_link
from cs_platform.settings import run_url

CHECKED_ASSET_PREFIX = "raw"  # ERROR checks alerted on: the raw tables'
SENSOR_INTERVAL_SECONDS = 60
EXECUTIONS_PAGE = 200  # check executions (and their runs) read per storage query
# The run tags naming what a run materialized (dagster._core.storage.tags, not exported).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def now() -> float:
    """The evaluation time (a function so tests can move the clock)."""
    return time.time()


# ----------------------------------------------------------- describing a policy


def describe_policy(policy: dg.FreshnessPolicy) -> str:
    # Read by attribute: the policy classes themselves are not exported by `dagster`.
    fail_window = getattr(policy, "fail_window", None)
    if fail_window is not None:
        return f"expected at least every {_duration(fail_window.to_timedelta().total_seconds())}"
    deadline = getattr(policy, "deadline_cron", None)
    if deadline is not None:
        return (f"expected within {_duration(policy.lower_bound_delta.total_seconds())} "
                f"before `{deadline}` ({policy.timezone})")
    return type(policy).__name__


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p) or "under a minute"


# ----------------------------------------------------------- what has been announced


CheckPartition = tuple[str, str | None]  # (check key as a user string, partition or None)


@dataclass
class AnnouncedState:
    stale_assets: set[str] = field(default_factory=set)
    failing_checks: set[CheckPartition] = field(default_factory=set)
    # Check executions up to this id are read and none of them is still running: the
    # next tick reads only newer ones.
    checks_read_up_to: int | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "AnnouncedState":
        data = json.loads(cursor) if cursor else {}
        # Before partitions were told apart an entry was the check's name alone.
        failing = {(entry, None) if isinstance(entry, str) else (entry[0], entry[1])
                   for entry in data.get("failing_checks", [])}
        return cls(set(data.get("stale_assets", [])), failing, data.get("checks_read_up_to"))

    def to_cursor(self) -> str:
        return json.dumps({"stale_assets": sorted(self.stale_assets),
                           "failing_checks": [list(pair) for pair in sorted(self.failing_checks, key=_pair_order)],
                           "checks_read_up_to": self.checks_read_up_to})


def _pair_order(pair: CheckPartition) -> tuple[str, str]:
    return pair[0], pair[1] or ""


@dataclass
class Alert:
    text: str
    bucket: str  # the AnnouncedState set it changes: "stale_assets" or "failing_checks"
    key: str | CheckPartition
    raised: bool  # True: a problem is announced; False: its recovery

    def record(self, announced: "AnnouncedState") -> None:
        """Remember what was sent, once Slack took it."""
        keys = getattr(announced, self.bucket)
        keys.add(self.key) if self.raised else keys.discard(self.key)


def stale_asset_alerts(context: dg.SensorEvaluationContext, announced: AnnouncedState,
                       at: float) -> Iterable[Alert]:
    """From the freshness daemon's records: FAIL is stale; PASS or WARN is fresh again.
    UNKNOWN (never materialized) and a missing record (not evaluated yet) change nothing."""
    graph = context.repository_def.asset_graph
    policies = {node.key: node.freshness_policy for node in graph.asset_nodes if node.freshness_policy}
    states = context.instance.get_freshness_state_records(list(policies))
    latest = context.instance.get_latest_materialization_events(list(policies))
    for key, policy in sorted(policies.items(), key=lambda item: item[0].to_user_string()):
        record = states.get(key)
        if record is None:
            continue
        name, state = key.to_user_string(), record.freshness_state.value
        event = latest.get(key)
        age = f"{_duration(at - event.timestamp)} ago" if event else None
        if state == "FAIL" and name not in announced.stale_assets:
            since = f"was last materialized {age}" if age else "was never materialized"
            yield Alert(f":hourglass_flowing_sand: *Stale*: {slack_code(name)} {since}; "
                        f"{slack_escape(describe_policy(policy))}.", "stale_assets", name, raised=True)
        elif state in ("PASS", "WARN") and name in announced.stale_assets:
            yield Alert(f":white_check_mark: *Fresh again*: {slack_code(name)} was materialized {age}.",
                        "stale_assets", name, raised=False)


@dataclass
class CheckAlerts:
    alerts: list[Alert]
    read_up_to: int | None  # the cursor's `checks_read_up_to` once every alert is sent
    forget: set[CheckPartition] = field(default_factory=set)  # announced, but no execution of it exists


def failed_check_alerts(context: dg.SensorEvaluationContext, announced: AnnouncedState) -> CheckAlerts:
    """Per (check, partition): the latest completed execution of each partition (a KARTE
    file, a day), so one partition's clean load never hides another's failure.

    The raw checks are not partitioned themselves (their execution rows carry no
    partition): an execution's partition is its run's (`dagster/partition`, or a
    single-run backfill's range `first...last`); unpartitioned tables have None.
    Only executions newer than the cursor are read. An execution row is written when
    the check is planned and completed in place, so the cursor never passes a row
    whose run is still going: the next tick reads it again."""
    # Statuses compared by value: their enum (AssetCheckExecutionRecordStatus) is not exported by `dagster`.
    graph = context.repository_def.asset_graph
    raw = [node for node in graph.asset_nodes if node.key.path[0] == CHECKED_ASSET_PREFIX]
    partitioned = {node.key for node in raw if node.partitions_def is not None}
    storage = context.instance.event_log_storage
    after = announced.checks_read_up_to or 0
    records = [record for node in raw for key in node.check_keys
               for record in _executions_after(storage, key, after)]
    run_ids = sorted({record.run_id for record in records if record.run_id})  # runless evaluations have none
    runs = {run.run_id: run for start in range(0, len(run_ids), EXECUTIONS_PAGE)
            for run in context.instance.get_runs(dg.RunsFilter(run_ids=run_ids[start:start + EXECUTIONS_PAGE]))}

    running = [record.id for record in records if record.status.value == "PLANNED"
               and record.run_id in runs and not runs[record.run_id].is_finished]
    read_up_to = min(running) - 1 if running else max([after, *(record.id for record in records)])
    latest: dict[CheckPartition, object] = {}
    for record in sorted(records, key=lambda r: r.id, reverse=True):
        if record.status.value == "PLANNED" or record.event is None:
            continue  # running, or its run ended before the check did: nothing to say about it
        partition = _partition(record, runs.get(record.run_id), record.key.asset_key in partitioned)
        latest.setdefault((record.key.to_user_string(), partition), record)

    alerts = []
    for (name, partition), record in sorted(latest.items(), key=lambda item: _pair_order(item[0])):
        evaluation = record.event.dagster_event.event_specific_data
        failing = (record.status.value == "FAILED"
                   and evaluation.severity == dg.AssetCheckSeverity.ERROR)
        label = _check_label(record.key, partition)
        if failing and (name, partition) not in announced.failing_checks:
            alerts.append(Alert(
                f":warning: *Check failed*: {label}"
                + (f": {slack_escape(evaluation.description)}" if evaluation.description else "")
                + "\n" + slack_link(run_url(record.run_id), "Open the run in Dagster"),
                "failing_checks", (name, partition), raised=True))
        elif not failing and (name, partition) in announced.failing_checks:
            alerts.append(Alert(f":white_check_mark: *Check passes again*: {label}.",
                                "failing_checks", (name, partition), raised=False))
    # The first read covers every execution: what was announced but never executed (a
    # cursor from before partitions were told apart, a check since removed) is let go.
    forget = announced.failing_checks - set(latest) if not after else set()
    return CheckAlerts(alerts, read_up_to or None, forget)


def _executions_after(storage, check_key: dg.AssetCheckKey, after: int) -> Iterable:
    """The check's execution records with an id above `after`, newest first."""
    cursor = None
    while True:
        page = storage.get_asset_check_execution_history(check_key, limit=EXECUTIONS_PAGE, cursor=cursor)
        for record in page:
            if record.id <= after:
                return
            yield record
        if len(page) < EXECUTIONS_PAGE:
            return
        cursor = page[-1].id


def _partition(record, run: dg.DagsterRun | None, asset_is_partitioned: bool) -> str | None:
    """The partition (file, day) a check execution evaluated."""
    if record.partition is not None:  # a partitioned check spec records it itself
        return record.partition
    if not asset_is_partitioned or run is None:
        return None
    if PARTITION_TAG in run.tags:
        return run.tags[PARTITION_TAG]
    first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if first and last:
        return first if first == last else f"{first}...{last}"
    return None


def _check_label(check_key: dg.AssetCheckKey, partition: str | None) -> str:
    """`primary_key_unique` on `raw/karte/nps_responses`, partition `nps_responses_20261101.csv`"""
    label = f"{slack_code(check_key.name)} on {slack_code(check_key.asset_key.to_user_string())}"
    return label + (f", partition {slack_code(partition)}" if partition is not None else "")


# ----------------------------------------------------------- the sensor


@dg.sensor(
    name="slack_on_stale_assets_and_failed_checks",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts to Slack when an asset turns stale against its freshness policy or a raw "
                "table's ERROR check fails, and again when it recovers.",
)
def slack_on_stale_assets_and_failed_checks(context: dg.SensorEvaluationContext,
                                            slack: SlackResource) -> dg.SensorResult:
    announced = AnnouncedState.from_cursor(context.cursor)
    checks = failed_check_alerts(context, announced)
    alerts = [*stale_asset_alerts(context, announced, now()), *checks.alerts]
    sent = 0
    for alert in alerts:
        try:
            slack.post(alert.text)
        except SourceError as error:
            # Keep what was sent; the rest is still owed and goes out on the next tick.
            context.log.error(f"{error}; {len(alerts) - sent} alert(s) will be retried")
            return dg.SensorResult(cursor=announced.to_cursor(),
                                   skip_reason=f"Slack failed after {sent} alert(s): {error}")
        alert.record(announced)
        sent += 1
    # Only now: had Slack failed, the next tick re-reads these checks for what is still owed.
    announced.checks_read_up_to = checks.read_up_to
    announced.failing_checks -= checks.forget
    return dg.SensorResult(cursor=announced.to_cursor(),
                           skip_reason=None if sent else "nothing turned stale, failed or recovered")


defs = dg.Definitions(sensors=[slack_on_stale_assets_and_failed_checks])
