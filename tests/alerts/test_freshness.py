"""The freshness and check sensor: one Slack message when an asset turns stale or a raw
table's ERROR check fails, one when it recovers, nothing in between."""

import csv
import time
from datetime import timedelta

import dagster as dg
import pytest

from cs_platform.defs.alerts import stale_assets as freshness
from cs_platform.defs.alerts.stale_assets import freshness_state
from cs_platform.defs.alerts.stale_assets import slack_on_stale_assets_and_failed_checks as sensor
from cs_platform.defs.sources import karte
from cs_platform.defs.sources.airtable import feature_requests
from cs_platform.resources.slack import SlackResource
from cs_platform.sources import catalog
from devkit.sandbox import SLACK_WEBHOOK_PATH

NPS = catalog.get("karte", "nps_responses")
nps_asset = next(a for a in karte.assets if a.key == dg.AssetKey(NPS.asset_key_path))
AIRTABLE_FAIL_WINDOW = timedelta(hours=12, minutes=30)


@pytest.fixture
def defs(resources):
    return dg.Definitions(assets=[feature_requests, nps_asset], sensors=[sensor], resources=resources)


@pytest.fixture
def evaluate(defs, instance, resources, monkeypatch):
    """Runs the sensor once, `hours_later` after now; returns its cursor."""

    def _evaluate(cursor: str | None, hours_later: float = 0) -> str | None:
        at = time.time() + hours_later * 3600
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


def test_cron_policies_are_evaluated_like_dagster_does():
    policy = dg.FreshnessPolicy.cron(deadline_cron="0 9 * * *", lower_bound_delta=timedelta(hours=1))
    day = 1_793_000_000 - 1_793_000_000 % 86_400  # a midnight UTC
    at = day + 9.5 * 3600  # 09:30, after today's deadline
    assert freshness_state(policy, day + 8.5 * 3600, at).value == "PASS"  # done in the 08:00-09:00 window
    assert freshness_state(policy, day + 7 * 3600, at).value == "FAIL"  # too early
    assert freshness_state(policy, None, at).value == "UNKNOWN"
