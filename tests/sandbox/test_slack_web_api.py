"""Slack's Web API (chat.postMessage, users.lookupByEmail) over real HTTP: the platform's
SlackResource against the sandbox's emulator, and raw requests where the emulator's own
strictness is the point."""

from __future__ import annotations

import re
import time

import dagster as dg
import pytest

from cs_platform.resources.http import RetryAfterTooLong, SourceAuthError, SourceError
from cs_platform.resources.slack import SlackApiError, SlackAuthError, SlackResource
from tests.conftest import point_at_sandbox

TS = re.compile(r"\d{10}\.\d{6}")


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def slack(sandbox) -> SlackResource:
    env = sandbox.env()
    return SlackResource(webhook_url=env["SLACK_WEBHOOK_URL"], bot_token=env["SLACK_BOT_TOKEN"],
                         api_url=env["SLACK_API_URL"])


@pytest.fixture
def token(sandbox) -> str:
    return sandbox.env()["SLACK_BOT_TOKEN"]


@pytest.fixture
def api(sandbox) -> str:
    return sandbox.env()["SLACK_API_URL"]


@pytest.fixture
def clock(sandbox, monkeypatch):
    """The emulator's rate-limit clock, moved by hand: `clock.now += 1`."""

    class Clock:
        now = 1000.0

    monkeypatch.setattr(sandbox.apis["slack"], "monotonic", lambda: Clock.now)
    return Clock


def test_settings_build_the_web_api_client_from_the_environment(sandbox, monkeypatch, tmp_path):
    from cs_platform.settings import resources_for

    point_at_sandbox(sandbox, monkeypatch)
    monkeypatch.setenv("CS_PLATFORM_DATA_DIR", str(tmp_path))  # no running sandbox's endpoints.json

    def slack_of_settings() -> SlackResource:
        # As a run sees it: dg.EnvVar values resolved.
        with dg.build_resources({"slack": resources_for("local")["slack"]}) as built:
            return built.slack

    slack = slack_of_settings()
    assert slack.has_web_api and slack.has_webhook
    assert slack.post_message("cs-alerts", "wired")["channel"] == "C0CSALERTS"
    slack.post("the webhook still works")
    assert [w["object"] for w in sandbox.writes("slack")] == ["message", "webhook"]
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.delenv("SLACK_API_URL")
    unset = slack_of_settings()
    assert not unset.has_web_api and unset.api_url == "https://slack.com/api"
    with pytest.raises(SourceAuthError, match="SLACK_BOT_TOKEN"):
        unset.post_message("cs-alerts", "no token")


def test_post_to_a_channel_by_name_hash_name_and_id(sandbox, slack):
    first = slack.post_message("cs-alerts", "Acme entered *at risk*")
    second = slack.post_message("#cs-team", "digest", blocks=[section("*3 accounts* changed band")])
    third = slack.post_message("C0CSLEADS1", "for the leads")
    assert [r["channel"] for r in (first, second, third)] == ["C0CSALERTS", "C0CSTEAM01", "C0CSLEADS1"]
    assert all(TS.fullmatch(r["ts"]) for r in (first, second, third))
    assert len({r["ts"] for r in (first, second, third)}) == 3

    messages = sandbox.slack_messages()
    assert [(m["channel"], m["channel_name"], m["text"]) for m in messages] == [
        ("C0CSALERTS", "cs-alerts", "Acme entered *at risk*"),
        ("C0CSTEAM01", "cs-team", "digest"),
        ("C0CSLEADS1", "cs-leads", "for the leads")]
    assert messages[1]["blocks"] == [section("*3 accounts* changed band")]
    assert [m["ts"] for m in messages] == [first["ts"], second["ts"], third["ts"]]
    assert [m["text"] for m in sandbox.slack_messages("#cs-team")] == ["digest"]
    write = sandbox.writes("slack", "message")[-1]  # the write log's own entry names channel and text too
    assert (write["channel"], write["text"], write["route"]) == ("C0CSLEADS1", "for the leads",
                                                                 "POST /api/chat.postMessage")


def test_a_dm_to_the_owner_found_by_email(sandbox, slack):
    # One Slack user per Salesforce User of the sample data, matched on the email.
    [owner] = [u for u in sandbox.records("slack/users") if u["profile"]["email"] == "csm1@example.com"]
    assert slack.lookup_user_by_email("CSM1@Example.com ") == owner["id"]
    posted = slack.post_message(owner["id"], "Your account Acme needs a call")
    assert posted["channel"].startswith("D")
    [dm] = sandbox.slack_messages()
    assert (dm["channel"], dm["user"], dm["channel_name"]) == (posted["channel"], owner["id"], None)
    # The DM's own ID reaches it too, once open.
    assert slack.post_message(posted["channel"], "again")["channel"] == posted["channel"]

    assert slack.lookup_user_by_email("nobody@example.com") is None
    assert slack.lookup_user_by_email("csm1@example.com") == owner["id"]
    assert slack.lookup_user_by_email("nobody@example.com") is None
    assert sandbox.calls("slack")["routes"]["POST /api/users.lookupByEmail"] == 2  # cached per resource


def test_a_deactivated_owner_has_no_dm(sandbox, slack):
    [owner] = [u for u in sandbox.records("slack/users") if u["profile"]["email"] == "csm0@example.com"]
    sandbox.mutate("slack/users", "update", [{"id": owner["id"], "deleted": True}])
    assert slack.lookup_user_by_email("csm0@example.com") is None
    with pytest.raises(SlackApiError) as refused:
        slack.post_message(owner["id"], "hello?")
    assert refused.value.error == "channel_not_found"


@pytest.mark.parametrize(("channel", "text", "blocks", "error"), [
    ("cs-nowhere", "x", None, "channel_not_found"),
    ("@csm0", "x", None, "channel_not_found"),  # @name addressing was retired
    ("C0NOTHERE1", "x", None, "channel_not_found"),
    ("general", "x", None, "not_in_channel"),
    ("cs-archived", "x", None, "is_archived"),
    ("cs-alerts", "", None, "no_text"),
    ("cs-alerts", "x" * 40_001, None, "msg_too_long"),
    ("cs-alerts", "x", [section(f"row {n}") for n in range(51)], "invalid_blocks"),
    ("cs-alerts", "x", [section("y" * 3_001)], "invalid_blocks"),
    ("cs-alerts", "x", [{"type": "banner"}], "invalid_blocks"),
])
def test_refusals_name_the_channel_and_slack_s_code(sandbox, slack, token, channel, text, blocks, error):
    with pytest.raises(SlackApiError) as refused:
        slack.post_message(channel, text, blocks=blocks)
    assert refused.value.error == error and refused.value.channel == channel
    assert not isinstance(refused.value, SourceAuthError)
    message = str(refused.value)
    assert f"channel {channel!r}" in message and error in message and token not in message
    assert sandbox.slack_messages() == []


def test_limits_are_inclusive(sandbox, slack):
    slack.post_message("cs-alerts", "x" * 40_000, blocks=[section("y" * 3_000) for _ in range(50)])
    [message] = sandbox.slack_messages()
    assert len(message["text"]) == 40_000 and len(message["blocks"]) == 50


def test_block_kit_errors_are_in_the_message(slack):
    with pytest.raises(SlackApiError, match=r"3001 characters \[json-pointer:/blocks/1/text/text\]"):
        slack.post_message("cs-alerts", "x", blocks=[section("ok"), section("y" * 3_001)])


def test_token_refusals_are_auth_errors_without_the_token(sandbox, api, token):
    wrong = "xoxb-1111-2222-wrongTokenForTheSandbox"
    client = SlackResource(bot_token=wrong, api_url=api)
    for call in (lambda: client.post_message("cs-alerts", "x"), lambda: client.lookup_user_by_email("a@b.c")):
        with pytest.raises(SlackAuthError) as refused:
            call()
        assert refused.value.error == "invalid_auth" and "SLACK_BOT_TOKEN" in str(refused.value)
        assert wrong not in str(refused.value) and token not in str(refused.value)
    assert sandbox.slack_messages() == []


def test_the_emulator_reads_the_token_where_slack_does(sandbox, http, api, token):
    body = {"channel": "cs-alerts", "text": "x"}
    assert http.post(f"{api}/chat.postMessage", json=body).json() == {"ok": False, "error": "not_authed"}
    # A JSON body's token is not read: JSON needs the Authorization header.
    assert http.post(f"{api}/chat.postMessage", json={**body, "token": token}).json()["error"] == "not_authed"
    bad = http.post(f"{api}/chat.postMessage", json=body, headers={"Authorization": "Bearer xoxb-nope"})
    assert (bad.status_code, bad.json()) == (200, {"ok": False, "error": "invalid_auth"})
    # Form-encoded: the token may be an argument; blocks are a JSON string.
    form = http.post(f"{api}/chat.postMessage", data={"token": token, "channel": "#cs-team", "text": "form",
                                                      "blocks": '[{"type": "divider"}]'})
    assert form.json()["ok"] is True and form.json()["channel"] == "C0CSTEAM01"
    assert form.json()["message"]["blocks"] == [{"type": "divider"}]
    garbled = http.post(f"{api}/chat.postMessage", data={"token": token, "channel": "cs-team", "text": "x",
                                                         "blocks": "[{not json"})
    assert garbled.json() == {"ok": False, "error": "invalid_blocks_format"}
    # JSON without a charset is taken, with Slack's warning.
    bare = http.post(f"{api}/chat.postMessage", json=body, headers={"Authorization": f"Bearer {token}"})
    assert bare.json()["ok"] is True and bare.json()["response_metadata"]["warnings"] == ["missing_charset"]
    untyped = http.post(f"{api}/chat.postMessage", data=b"channel=cs-team", headers={
        "Authorization": f"Bearer {token}", "Content-Type": ""})
    assert untyped.json()["error"] == "missing_post_type"
    # users.lookupByEmail takes form arguments (or a query string), not JSON.
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{api}/users.lookupByEmail", params={"email": "csm0@example.com"},
                    headers=auth).json()["user"]["profile"]["email"] == "csm0@example.com"
    assert http.post(f"{api}/users.lookupByEmail", json={"email": "csm0@example.com"},
                     headers=auth).json()["error"] == "invalid_arguments"
    assert http.post(f"{api}/users.lookup", data={"email": "x"}, headers=auth).json() == {
        "ok": False, "error": "unknown_method", "req_method": "users.lookup"}
    assert [m["text"] for m in sandbox.slack_messages()] == ["form", "x"]


def test_an_injected_429_is_waited_out_and_the_message_posted_once(sandbox, slack):
    sandbox.add_fault(route="chat.postMessage", sequence=[429], retry_after=1)
    started = time.monotonic()
    posted = slack.post_message("cs-alerts", "once")
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    assert [m["ts"] for m in sandbox.slack_messages()] == [posted["ts"]]
    assert sandbox.calls("slack")["routes"]["POST /api/chat.postMessage"] == 2


def test_injected_5xx_are_retried_and_the_message_posted_once(sandbox, slack):
    sandbox.add_fault(route="chat.postMessage", sequence=[500, 503])
    slack.post_message("cs-alerts", "after two failures")
    assert [m["text"] for m in sandbox.slack_messages()] == ["after two failures"]
    assert sandbox.calls("slack")["routes"]["POST /api/chat.postMessage"] == 3


def test_a_5xx_that_outlasts_the_retries_is_an_error_naming_the_channel(sandbox, api, token):
    sandbox.add_fault(route="chat.postMessage", error_rate=1.0, error_status=502, times=20)
    slack = SlackResource(bot_token=token, api_url=api, retry_backoff_seconds=0.01)
    with pytest.raises(SourceError, match=r"chat\.postMessage to channel 'cs-alerts' failed after retries: HTTP 502"
                       ) as failed:
        slack.post_message("cs-alerts", "x")
    assert token not in str(failed.value)
    assert sandbox.slack_messages() == []


def test_a_retry_after_past_the_cap_fails_at_once(sandbox, api, token):
    sandbox.add_fault(route="chat.postMessage", sequence=[429], retry_after=3600)
    client = SlackResource(bot_token=token, api_url=api, max_retry_after_seconds=5)
    with pytest.raises(RetryAfterTooLong, match="Slack asked to wait 3600 s") as refused:
        client.post_message("cs-alerts", "x")
    assert token not in str(refused.value)
    assert sandbox.slack_messages() == []


def test_the_per_channel_rate_limit_is_enforced(sandbox, http, api, token, clock):
    headers = {"Authorization": f"Bearer {token}"}

    def post(channel: str):
        return http.post(f"{api}/chat.postMessage", json={"channel": channel, "text": "burst"}, headers=headers)

    burst = sandbox.apis["slack"].channel_burst
    assert [post("cs-alerts").status_code for _ in range(burst)] == [200] * burst
    throttled = post("cs-alerts")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert throttled.json() == {"ok": False, "error": "ratelimited"}
    assert post("cs-team").status_code == 200  # the limit is per channel
    clock.now += 0.5
    assert post("#cs-alerts").status_code == 429  # by name or ID, the same channel
    clock.now += 0.5
    assert post("cs-alerts").status_code == 200  # one slot a second
    assert post("cs-alerts").status_code == 429
    clock.now += 60
    assert [post("C0CSALERTS").status_code for _ in range(burst + 1)] == [200] * burst + [429]  # burst refilled only
    assert len(sandbox.slack_messages("cs-alerts")) == 2 * burst + 1


def test_the_client_paces_itself_by_the_rate_limit(sandbox, slack):
    """Real time: more messages than the burst go out, each once and in order, at
    about one a second past the burst."""
    burst = sandbox.apis["slack"].channel_burst
    started = time.monotonic()
    for n in range(burst + 2):
        slack.post_message("cs-team", f"alert {n}")
    assert time.monotonic() - started >= 1.5
    assert [m["text"] for m in sandbox.slack_messages("cs-team")] == [f"alert {n}" for n in range(burst + 2)]
    assert sandbox.calls("slack")["routes"]["POST /api/chat.postMessage"] >= burst + 4


def test_channels_follow_admin_changes(sandbox, slack):
    sandbox.mutate("slack/channels", "update", [{"name": "cs-team", "is_archived": True},
                                                {"name": "general", "is_member": True}])
    with pytest.raises(SlackApiError, match="is_archived"):
        slack.post_message("cs-team", "x")
    assert slack.post_message("general", "now a member")["channel"] == "C0GENERAL1"
    sandbox.reset()
    assert {c["name"]: c["is_archived"] for c in sandbox.records("slack/channels")}["cs-team"] is False


def test_a_throttled_lookup_is_retried(sandbox, slack):
    sandbox.add_fault(route="users.lookupByEmail", sequence=[429], retry_after=0)
    assert slack.lookup_user_by_email("csm0@example.com") == "U00000001"
    assert sandbox.calls("slack")["routes"]["POST /api/users.lookupByEmail"] == 2
