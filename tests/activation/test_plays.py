"""Plays against the sandbox: Slack over the Web API, Tasks and HubSpot properties
through the reverse-ETL engine, a real DuckDB warehouse holding the segment table
(written directly, as the sync tests write their models)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from cs_platform.activation.destinations import connect
from cs_platform.activation.plays.assets import build_play_asset
from cs_platform.activation.plays.component import Play, PlaysAttributes
from cs_platform.activation.plays.engine import (
    FIRINGS_TABLE,
    Channels,
    PlayRefused,
    run_play,
)
from cs_platform.resources.slack import SlackResource
from tests.activation.support import CSM_IDS, Crm, account_id

SEGMENTS = "marts.account_segments"
SEGMENT_COLUMNS = {
    "account_id": "string", "account_name": "string", "owner_user_id": "string", "owner_name": "string",
    "owner_email": "string", "owner_lead_user_id": "string", "owner_lead_name": "string",
    "owner_lead_email": "string", "salesforce_account_id": "string", "segment_key": "string",
    "segment_name": "string", "detail": "string", "recommended_action": "string",
    "usage_health_score": "float", "usage_health_band": "string", "renewal_likelihood_score": "float",
    "renewal_likelihood_band": "string", "usage_health_change_28d": "float", "renewal_date": "date",
    "days_until_renewal": "integer", "report_url": "string", "as_of_date": "date",
}
DAY = date(2026, 3, 2)
LEAD_EMAIL = "lead@example.com"


@pytest.fixture
def crm(sandbox) -> Crm:
    crm = Crm(sandbox, n_accounts=12)
    sandbox.mutate("slack/users", "insert", [{"email": f"csm{i}@example.com", "real_name": f"CSM {i}"}
                                             for i in range(len(CSM_IDS))]
                   + [{"email": LEAD_EMAIL, "real_name": "CS Lead"}])
    return crm


@pytest.fixture
def slack(sandbox) -> SlackResource:
    env = sandbox.env()
    return SlackResource(webhook_url=env["SLACK_WEBHOOK_URL"], bot_token=env["SLACK_BOT_TOKEN"],
                         api_url=env["SLACK_API_URL"], retry_backoff_seconds=0.01)


def play_of(**fields) -> Play:
    base = {"name": "drop_alert", "segment": "usage_anomaly_last_3d", "level": "alert",
            "slack": {"route": "owner", "channel": "cs-alerts"}}
    return PlaysAttributes.model_validate({"plays": [{**base, **fields}]}).plays[0]


def write_segment(warehouse, crm: Crm, members, *, day: date = DAY, segment: str = "usage_anomaly_last_3d",
                  name: str | None = None) -> None:
    rows = []
    for i in members:
        rows.append({
            "account_id": account_id(i), "account_name": name or f"Customer {i}",
            "owner_user_id": CSM_IDS[i % 3], "owner_name": f"CSM {i % 3}", "owner_email": f"csm{i % 3}@example.com",
            "owner_lead_user_id": CSM_IDS[0], "owner_lead_name": "CS Lead", "owner_lead_email": LEAD_EMAIL,
            "salesforce_account_id": crm.sf_id[account_id(i)], "segment_key": segment,
            "segment_name": "Usage anomaly in the last 3 days", "detail": f"collapse on {day} (high)",
            "recommended_action": "Call the customer", "usage_health_score": 41.0 + i,
            "usage_health_band": "red", "renewal_likelihood_score": 55.0, "renewal_likelihood_band": "yellow",
            "usage_health_change_28d": -12.0, "renewal_date": day + timedelta(days=20 + i),
            "days_until_renewal": 20 + i, "report_url": f"http://127.0.0.1:3000/reports/{account_id(i)}.html",
            "as_of_date": day,
        })
    # Another segment's row: the table carries the data's day even when the play's segment is empty.
    rows.append({**(rows[0] if rows else {}), "account_id": "PA-OTHER", "segment_key": "other_segment",
                 "as_of_date": day})
    warehouse.write(SEGMENTS, pd.DataFrame.from_records(rows, columns=list(SEGMENT_COLUMNS)), SEGMENT_COLUMNS,
                    replace_all=True)


def run(play, warehouse, slack, resources, **kwargs):
    def factory(spec):
        return lambda: connect(spec, resources[spec.destination])

    return run_play(play, warehouse, Channels(slack=slack, destination_factory=factory), segment_table=SEGMENTS,
                    run_id=uuid.uuid4().hex, **kwargs)


def firings(warehouse, play: str = "drop_alert") -> pd.DataFrame:
    return warehouse.query(f"select * from {FIRINGS_TABLE} where play = ? order by account_id, event_date", [play])


def test_an_entering_account_fires_once_and_a_rerun_fires_nothing(sandbox, crm, slack, warehouse, resources):
    play = play_of()
    write_segment(warehouse, crm, [0, 1])
    first = run(play, warehouse, slack, resources)
    assert (first.outcome, first.baseline, first.sent) == ("baseline", 2, 0)
    assert sandbox.slack_messages() == []  # no flood: the members of the first run are the baseline

    write_segment(warehouse, crm, [0, 1, 2], day=DAY + timedelta(days=1))
    second = run(play, warehouse, slack, resources)
    assert (second.entered, second.fired, second.sent) == (1, 1, 1)
    messages = sandbox.slack_messages()
    assert len(messages) == 1
    owner = slack.lookup_user_by_email("csm2@example.com")
    assert messages[0]["user"] == owner  # a DM to the account's owner
    text = messages[0]["text"]
    assert "Customer 2" in text and "Usage health 43 (red, -12 in 28 days)" in text
    assert "reports/PA-00002.html" in text and "/lightning/r/" not in text  # no Salesforce URL builder passed

    again = run(play, warehouse, slack, resources)
    assert (again.entered, again.fired, again.sent) == (0, 0, 0)
    assert len(sandbox.slack_messages()) == 1
    recorded = firings(warehouse)
    assert recorded.groupby("status").size().to_dict() == {"baseline": 2, "sent": 1}
    sent = recorded[recorded["status"] == "sent"].iloc[0]
    assert sent["account_id"] == account_id(2) and sent["destination_ref"] == messages[0]["ts"]


def test_cooldown_holds_and_exits_are_reported_when_configured(sandbox, crm, slack, warehouse, resources):
    play = play_of(cooldown_days=7, report_exits=True, first_run="backfill")
    write_segment(warehouse, crm, [3])
    assert run(play, warehouse, slack, resources).sent == 1
    write_segment(warehouse, crm, [], day=DAY + timedelta(days=1))
    left = run(play, warehouse, slack, resources)
    assert (left.exited, left.sent) == (1, 1)
    assert "left _usage_anomaly_last_3d_" in sandbox.slack_messages()[-1]["text"]
    write_segment(warehouse, crm, [3], day=DAY + timedelta(days=3))
    back = run(play, warehouse, slack, resources)
    assert (back.entered, back.suppressed_cooldown, back.sent) == (1, 1, 0)
    write_segment(warehouse, crm, [], day=DAY + timedelta(days=4))
    run(play, warehouse, slack, resources)
    write_segment(warehouse, crm, [3], day=DAY + timedelta(days=9))
    assert run(play, warehouse, slack, resources).sent == 1  # 9 days after the last firing
    statuses = firings(warehouse)[["event", "status"]].value_counts().to_dict()
    assert statuses == {("entered", "sent"): 2, ("exited", "sent"): 2, ("entered", "suppressed_cooldown"): 1}


def test_a_slack_429_is_retried_and_delivered_once(sandbox, crm, slack, warehouse, resources):
    play = play_of(first_run="backfill")
    write_segment(warehouse, crm, [4])
    sandbox.add_fault(route="chat.postMessage", sequence=[429], retry_after=1, times=1)
    out = run(play, warehouse, slack, resources)
    assert (out.sent, out.failed) == (1, 0)
    assert len(sandbox.slack_messages()) == 1
    assert sandbox.calls("slack")["routes"]["POST /api/chat.postMessage"] == 2


def test_a_failed_send_is_logged_kept_and_sent_next_run_once(sandbox, crm, slack, warehouse, resources, caplog):
    play = play_of(first_run="backfill")
    write_segment(warehouse, crm, [5, 6])
    sandbox.add_fault(route="chat.postMessage", error_status=500, error_rate=1.0)
    out = run(play, warehouse, slack, resources)
    assert (out.sent, out.failed) == (0, 2)
    assert {f["account_id"] for f in out.failures} == {account_id(5), account_id(6)}
    warnings = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert any("drop_alert" in w and account_id(5) in w for w in warnings)
    assert set(firings(warehouse)["status"]) == {"failed"}

    sandbox.clear_faults()
    write_segment(warehouse, crm, [5, 6], day=DAY + timedelta(days=1))  # still in the segment: no new entry
    retry = run(play, warehouse, slack, resources)
    assert (retry.fired, retry.retried, retry.sent) == (0, 2, 2)
    assert sorted(m["text"].split("\n")[0] for m in sandbox.slack_messages()) == [
        f"*drop alert*: <http://127.0.0.1:3000/reports/{account_id(i)}.html|Customer {i}> entered "
        f"_Usage anomaly in the last 3 days_" for i in (5, 6)]
    assert run(play, warehouse, slack, resources).sent == 0
    assert len(sandbox.slack_messages()) == 2
    assert firings(warehouse)["attempts"].tolist() == [2, 2]


def test_digest_per_recipient_and_lead_routing(sandbox, crm, slack, warehouse, resources):
    play = play_of(first_run="backfill", slack={"route": "owner_lead", "channel": "cs-leads", "delivery": "digest"})
    write_segment(warehouse, crm, [0, 1, 2, 3])
    assert run(play, warehouse, slack, resources).sent == 4
    messages = sandbox.slack_messages()
    assert len(messages) == 1 and messages[0]["user"] == slack.lookup_user_by_email(LEAD_EMAIL)
    assert messages[0]["text"].startswith("*drop alert*: 4 accounts")


def test_a_recipient_without_slack_user_gets_it_in_the_channel(sandbox, crm, slack, warehouse, resources):
    play = play_of(first_run="backfill")
    write_segment(warehouse, crm, [0])
    warehouse.execute(f"update {SEGMENTS} set owner_email = 'nobody@example.com'")
    assert run(play, warehouse, slack, resources).sent == 1
    [message] = sandbox.slack_messages()
    assert message["channel_name"] == "cs-alerts" and "nobody@example.com" in message["text"]


def test_account_names_are_escaped(sandbox, crm, slack, warehouse, resources):
    write_segment(warehouse, crm, [0], name="<!channel> & Co")
    run(play_of(first_run="backfill"), warehouse, slack, resources)
    text = sandbox.slack_messages()[0]["text"]
    assert "&lt;!channel&gt; &amp; Co" in text and "<!channel>" not in text


def test_a_flood_is_refused_and_nothing_recorded(sandbox, crm, slack, warehouse, resources):
    play = play_of(max_firings_per_run=3)
    write_segment(warehouse, crm, [])
    assert run(play, warehouse, slack, resources).outcome == "baseline"  # an empty segment at first
    write_segment(warehouse, crm, range(5), day=DAY + timedelta(days=1))
    with pytest.raises(PlayRefused, match="5 accounts would be acted on"):
        run(play, warehouse, slack, resources)
    assert sandbox.slack_messages() == [] and warehouse.columns(FIRINGS_TABLE) is None  # nothing recorded
    assert run(play, warehouse, slack, resources, override_guards=True).sent == 5


TASK_PLAY = {"name": "risk_task", "segment": "renewal_at_risk", "level": "task", "first_run": "backfill",
             "task": {"key": "renewal-risk-{account_id}-{renewal_date}", "subject": "Renewal at risk: {account_name}",
                      "high_priority_within_days": 30, "on_exit": "close"}}


def test_task_play_creates_once_closes_on_exit_and_never_doubles_an_open_task(
        sandbox, crm, slack, warehouse, resources):
    play = play_of(**TASK_PLAY, slack=None)
    write_segment(warehouse, crm, [1, 2], segment="renewal_at_risk")
    out = run(play, warehouse, slack, resources)
    assert (out.fired, out.sent) == (2, 2)
    tasks = {t["CS_External_Id__c"]: t for t in crm.tasks()}
    key = f"renewal-risk-{account_id(1)}-{DAY + timedelta(days=21)}"
    assert set(tasks) == {key, f"renewal-risk-{account_id(2)}-{DAY + timedelta(days=22)}"}
    assert tasks[key]["OwnerId"] == CSM_IDS[1] and tasks[key]["Priority"] == "High"
    assert tasks[key]["WhatId"] == crm.sf_id[account_id(1)] and tasks[key]["Status"] == "Not Started"
    assert str(tasks[key]["ActivityDate"])[:10] == str(DAY + timedelta(days=7))

    assert run(play, warehouse, slack, resources).sent == 0 and len(crm.tasks()) == 2
    write_segment(warehouse, crm, [2], segment="renewal_at_risk", day=DAY + timedelta(days=1))
    left = run(play, warehouse, slack, resources)
    assert (left.exited, left.sent) == (1, 1)
    assert {t["CS_External_Id__c"]: t["Status"] for t in crm.tasks()}[key] == "Completed"

    # Account 2 leaves and comes back after the cooldown while its Task is still open: no second Task.
    write_segment(warehouse, crm, [], segment="renewal_at_risk", day=DAY + timedelta(days=2))
    run(play, warehouse, slack, resources)
    write_segment(warehouse, crm, [2], segment="renewal_at_risk", day=DAY + timedelta(days=40))
    warehouse.execute("update plays.play_tasks set status = 'open', closed_on = null "
                      "where account_id = ?", [account_id(2)])  # as if closing were switched off meanwhile
    back = run(play, warehouse, slack, resources)
    assert (back.entered, back.suppressed_open_task, back.sent) == (1, 1, 0)
    assert len(crm.tasks()) == 2


def test_task_play_comments_on_exit_and_keeps_the_task_open(sandbox, crm, slack, warehouse, resources):
    play = play_of(**{**TASK_PLAY, "task": {**TASK_PLAY["task"], "on_exit": "comment"}}, slack=None)
    write_segment(warehouse, crm, [1, 2], segment="renewal_at_risk")
    assert run(play, warehouse, slack, resources).sent == 2
    key = f"renewal-risk-{account_id(1)}-{DAY + timedelta(days=21)}"
    created = {t["CS_External_Id__c"]: t for t in crm.tasks()}[key]

    write_segment(warehouse, crm, [2], segment="renewal_at_risk", day=DAY + timedelta(days=1))
    left = run(play, warehouse, slack, resources)
    assert (left.exited, left.sent) == (1, 1)
    task = {t["CS_External_Id__c"]: t for t in crm.tasks()}[key]
    assert task["Status"] == "Not Started"  # still the CSM's to close
    assert task["Description"] == (f"{created['Description']}\n\n{DAY + timedelta(days=1)}: Customer 1 left the "
                                   f"segment 'renewal_at_risk' (play risk_task); this Task stays open for you.")
    writes = len(sandbox.writes())
    assert run(play, warehouse, slack, resources).sent == 0 and len(sandbox.writes()) == writes  # said once

    # Back in the segment while that Task is open: no second Task.
    write_segment(warehouse, crm, [1, 2], segment="renewal_at_risk", day=DAY + timedelta(days=40))
    back = run(play, warehouse, slack, resources)
    assert (back.entered, back.suppressed_open_task, back.sent) == (1, 1, 0)
    assert len(crm.tasks()) == 2


def test_task_play_adopts_a_task_the_old_sync_created(sandbox, crm, slack, warehouse, resources):
    play = play_of(**TASK_PLAY, slack=None)
    key = f"renewal-risk-{account_id(3)}-{DAY + timedelta(days=23)}"
    sandbox.mutate("salesforce/Task", "insert", [{"Subject": "old", "CS_External_Id__c": key, "OwnerId": CSM_IDS[0],
                                                  "WhatId": crm.sf_id[account_id(3)], "Status": "Not Started"}])
    write_segment(warehouse, crm, [3], segment="renewal_at_risk")
    out = run(play, warehouse, slack, resources)
    assert out.sent == 1 and out.syncs["play_risk_task"]["adopted"] == 1
    assert [t["Subject"] for t in crm.tasks()] == ["old"]


def test_action_play_sets_and_resets_a_hubspot_property(sandbox, crm, slack, warehouse, resources):
    play = play_of(name="nurture", segment="not_using_key_feature", level="action", first_run="backfill", slack=None,
                   action={"property": "cs_nurture_track", "value": "key_feature_adoption", "exit_value": ""})
    write_segment(warehouse, crm, [0, 1], segment="not_using_key_feature")
    assert run(play, warehouse, slack, resources).sent == 2
    assert crm.companies()[account_id(0)]["cs_nurture_track"] == "key_feature_adoption"
    write_segment(warehouse, crm, [1], segment="not_using_key_feature", day=DAY + timedelta(days=1))
    assert run(play, warehouse, slack, resources).sent == 1
    assert crm.companies()[account_id(0)].get("cs_nurture_track") in (None, "")
    assert crm.companies()[account_id(1)]["cs_nurture_track"] == "key_feature_adoption"


def test_a_switched_off_play_shows_what_it_would_send(sandbox, crm, slack, warehouse, resources):
    play = play_of(enabled=False, first_run="backfill")
    write_segment(warehouse, crm, [7])
    result = dg.materialize([build_play_asset(play)], resources={"warehouse": warehouse, "slack": slack},
                            raise_on_error=False)
    observed = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert result.success and len(observed) == 1
    metadata = observed[0].event_specific_data.asset_observation.metadata
    assert metadata["fired"].value == 1 and "Customer 7" in metadata["preview"].value
    assert sandbox.slack_messages() == [] and warehouse.columns(FIRINGS_TABLE) is None
