"""The freshness and check sensor: one Slack message when an asset turns stale or a raw
table's ERROR check fails, one when it recovers, nothing in between. Staleness is
Dagster's own: the freshness daemon evaluates the policies (run here in-process, on
a moved clock) and the sensor reads the state it recorded."""

import asyncio
import csv
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

# Private: the daemon and an in-process workspace are how Dagster's own tests drive it.
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import freshness as freshness_daemon

from cs_platform.defs.alerts import stale_assets as freshness
from cs_platform.defs.alerts.stale_assets import slack_on_stale_assets_and_failed_checks as sensor
from cs_platform.defs.models import dbt
from cs_platform.defs.sources import karte
from cs_platform.defs.sources.airtable import feature_requests
from cs_platform.freshness import apply_freshness_policies
from cs_platform.resources.slack import SlackResource
from cs_platform.sources import catalog
from devkit.sandbox import SLACK_WEBHOOK_PATH

NPS = catalog.get("karte", "nps_responses")
nps_asset = next(a for a in karte.assets if a.key == dg.AssetKey(NPS.asset_key_path))
AIRTABLE_FAIL_WINDOW = timedelta(hours=12, minutes=30)


DBT_DAILY_FAIL_WINDOW = timedelta(hours=48, minutes=30)
LOCATION = Path(__file__).with_name("freshness_location.py")


@pytest.fixture
def defs(resources):
    return apply_freshness_policies(dg.Definitions.merge(
        dg.Definitions(assets=[feature_requests, nps_asset], sensors=[sensor], resources=resources), dbt.defs))


def run_freshness_daemon(instance: dg.DagsterInstance, at: float, monkeypatch) -> None:
    """One iteration of Dagster's freshness daemon over freshness_location.py, at time `at`."""
    import dagster._core.definitions.freshness_evaluator as evaluator

    monkeypatch.setattr(evaluator, "get_current_timestamp", lambda: at)
    monkeypatch.setattr(freshness_daemon, "get_current_timestamp", lambda: at)
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=str(LOCATION), attribute="defs"))
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        asyncio.run(freshness_daemon.FreshnessDaemon()._evaluate_assets(workspace_process_context=workspace))


@pytest.fixture
def evaluate(defs, instance, resources, monkeypatch):
    """Runs the freshness daemon, then the sensor, `hours_later` after now; returns the sensor's cursor."""

    def _evaluate(cursor: str | None, hours_later: float = 0) -> str | None:
        at = time.time() + hours_later * 3600
        run_freshness_daemon(instance, at, monkeypatch)
        monkeypatch.setattr(freshness, "now", lambda: at)
        # Direct invocation takes resources from the context, not from `definitions`.
        with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                     resources={"slack": resources["slack"]}) as context:
            return sensor(context).cursor

    return _evaluate


def test_stale_then_fresh_again_is_posted_once_each(defs, instance, resources, evaluate, slack_messages, sandbox):
    cursor = evaluate(None)
    assert slack_messages() == []  # never materialized: freshness unknown, nothing to say

    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    cursor = evaluate(cursor)
    assert slack_messages() == []

    late = AIRTABLE_FAIL_WINDOW.total_seconds() / 3600 + 1
    cursor = evaluate(cursor, hours_later=late)
    cursor = evaluate(cursor, hours_later=late + 1)  # still stale: no second message
    [stale] = slack_messages()
    assert stale.startswith(":hourglass_flowing_sand: *Stale*: `raw/airtable/feature_requests`")
    assert "expected at least every 12h 30m" in stale

    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    evaluate(cursor)
    assert len(slack_messages()) == 2 and "*Fresh again*: `raw/airtable/feature_requests`" in slack_messages()[1]
    assert SLACK_WEBHOOK_PATH not in str([w["records"] for w in sandbox.writes("slack")])


def write_nps_file(inbox, name: str, response_ids: list[str]) -> str:
    with open(inbox / name, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(NPS.columns)
        for rid in response_ids:
            writer.writerow([rid, "A000001", "U000001001", 9, "", "2026-10-01T10:00:00Z"])
    return name


def test_a_failed_error_check_on_a_raw_table_is_posted_once(defs, instance, resources, evaluate,
                                                            slack_messages, karte_inbox):
    partitions = karte.file_partitions(NPS)
    duplicated = write_nps_file(karte_inbox, "nps_responses_20261101.csv", ["r1", "r1", "r2"])
    clean = write_nps_file(karte_inbox, "nps_responses_20261108.csv", ["r3", "r4"])
    instance.add_dynamic_partitions(partitions.name, [duplicated, clean])

    run = dg.materialize([nps_asset], instance=instance, resources=resources, partition_key=duplicated)
    cursor = evaluate(evaluate(None))
    [failed] = slack_messages()
    assert failed.startswith(":warning: *Check failed*: `primary_key_unique` on `raw/karte/nps_responses`")
    assert "r1" in failed and f"/runs/{run.run_id}" in failed

    dg.materialize([nps_asset], instance=instance, resources=resources, partition_key=clean)
    evaluate(cursor)
    assert "*Check passes again*: `primary_key_unique` on `raw/karte/nps_responses`" in slack_messages()[-1]
    assert len(slack_messages()) == 2


def test_alerts_slack_did_not_take_are_sent_on_the_next_tick(defs, instance, resources, slack_messages,
                                                             sandbox, monkeypatch):
    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    at = time.time() + 24 * 3600
    run_freshness_daemon(instance, at, monkeypatch)
    monkeypatch.setattr(freshness, "now", lambda: at)
    broken = SlackResource(webhook_url=sandbox.env()["SLACK_WEBHOOK_URL"].replace("Secret", "Wrong"))
    with dg.build_sensor_context(instance=instance, definitions=defs, resources={"slack": broken}) as context:
        result = sensor(context)
    assert "Slack failed" in result.skip_reason.skip_message and "404" in result.skip_reason.skip_message
    assert slack_messages() == []

    with dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs,
                                 resources={"slack": resources["slack"]}) as context:
        sensor(context)
    assert len(slack_messages()) == 1


def test_a_stale_mart_raises_the_same_alert_as_a_stale_raw_table(defs, instance, evaluate, slack_messages):
    """renewal_list is built by the daily dbt job: past its window it is stale in Dagster's
    own freshness state (what the UI shows) and in Slack, in the same words as a raw table."""
    instance.report_runless_asset_event(dg.AssetMaterialization("renewal_list"))
    cursor = evaluate(None)
    assert instance.get_freshness_state_records([dg.AssetKey("renewal_list")])[
        dg.AssetKey("renewal_list")].freshness_state.value == "PASS"
    assert slack_messages() == []

    cursor = evaluate(cursor, hours_later=DBT_DAILY_FAIL_WINDOW.total_seconds() / 3600 + 1)
    record = instance.get_freshness_state_records([dg.AssetKey("renewal_list")])[dg.AssetKey("renewal_list")]
    assert record.freshness_state.value == "FAIL"
    [stale] = slack_messages()
    assert stale.startswith(":hourglass_flowing_sand: *Stale*: `renewal_list` was last materialized")
    assert "expected at least every 2d 30m" in stale


def test_every_asset_but_the_seeds_has_a_policy():
    from cs_platform.definitions import defs as code_location

    graph = code_location().resolve_asset_graph()
    without = sorted(k.to_user_string() for k in graph.get_all_asset_keys()
                     if graph.get(k).is_materializable and graph.get(k).freshness_policy is None)
    seeds = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "score_config")
    assert without == seeds
