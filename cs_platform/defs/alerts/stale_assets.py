"""Slack alerts for stale assets and failed ERROR checks on raw tables.

Open-source Dagster evaluates every asset's `FreshnessPolicy` (applied in
`cs_platform/freshness.py`) in its freshness daemon and shows the result in the UI,
but sends no alert. This sensor reads that same state from the instance
(`get_freshness_state_records`) and posts once when an asset turns stale (FAIL) and
once when it is fresh again, so Slack and the UI always agree. Raw tables' asset
checks of severity ERROR (duplicate keys, a load that wrote nothing) are handled
the same way: one message when the latest evaluation fails, one when it passes
again. What has been announced lives in the sensor cursor, so a restart neither
repeats nor forgets an alert.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from cs_platform.resources.http import SourceError
from cs_platform.resources.slack import SlackResource
from cs_platform.settings import run_url

CHECKED_ASSET_PREFIX = "raw"  # ERROR checks alerted on: the raw tables'
SENSOR_INTERVAL_SECONDS = 60


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


@dataclass
class AnnouncedState:
    stale_assets: set[str] = field(default_factory=set)
    failing_checks: set[str] = field(default_factory=set)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "AnnouncedState":
        data = json.loads(cursor) if cursor else {}
        return cls(set(data.get("stale_assets", [])), set(data.get("failing_checks", [])))

    def to_cursor(self) -> str:
        return json.dumps({"stale_assets": sorted(self.stale_assets),
                           "failing_checks": sorted(self.failing_checks)})


@dataclass
class Alert:
    text: str
    bucket: str  # the AnnouncedState set it changes: "stale_assets" or "failing_checks"
    key: str
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
            yield Alert(f":hourglass_flowing_sand: *Stale*: `{name}` {since}; {describe_policy(policy)}.",
                        "stale_assets", name, raised=True)
        elif state in ("PASS", "WARN") and name in announced.stale_assets:
            yield Alert(f":white_check_mark: *Fresh again*: `{name}` was materialized {age}.",
                        "stale_assets", name, raised=False)


def failed_check_alerts(context: dg.SensorEvaluationContext, announced: AnnouncedState) -> Iterable[Alert]:
    # Statuses compared by value: their enum (AssetCheckExecutionRecordStatus) is not exported by `dagster`.
    graph = context.repository_def.asset_graph
    check_keys = [key for node in graph.asset_nodes if node.key.path[0] == CHECKED_ASSET_PREFIX
                  for key in node.check_keys]
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    for check_key in sorted(check_keys, key=lambda k: k.to_user_string()):
        record = latest.get(check_key)
        if record is None or record.status.value == "PLANNED":
            continue  # never run, or running now: keep what was announced
        name = check_key.to_user_string()
        evaluation = record.event.dagster_event.event_specific_data
        failing = (record.status.value == "FAILED"
                   and evaluation.severity == dg.AssetCheckSeverity.ERROR)
        asset, check = check_key.asset_key.to_user_string(), check_key.name
        if failing and name not in announced.failing_checks:
            yield Alert(
                f":warning: *Check failed*: `{check}` on `{asset}`"
                + (f": {evaluation.description}" if evaluation.description else "")
                + f"\n<{run_url(record.run_id)}|Open the run in Dagster>",
                "failing_checks", name, raised=True)
        elif not failing and name in announced.failing_checks:
            yield Alert(f":white_check_mark: *Check passes again*: `{check}` on `{asset}`.",
                        "failing_checks", name, raised=False)


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
    alerts = [*stale_asset_alerts(context, announced, now()), *failed_check_alerts(context, announced)]
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
    return dg.SensorResult(cursor=announced.to_cursor(),
                           skip_reason=None if sent else "nothing turned stale, failed or recovered")


defs = dg.Definitions(sensors=[slack_on_stale_assets_and_failed_checks])
